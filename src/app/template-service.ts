import type { Db } from '../store/db.js';
import type { Template } from '../policy/template.js';
import { getTemplate, latestTemplateChange, listTemplates } from '../store/template-repo.js';

/**
 * Read-mostly template cache shared by CEP and CES. Every node re-reads after `ttlMs`; a change
 * made through this process, or announced by another one (src/app/cache-bus.ts, PostgreSQL NOTIFY), invalidates at once. The
 * `version` lets callers cache derived data (serialized GetPolicies bodies) per version.
 */
export class TemplateService {
  private cache: { at: number; templates: Template[]; latestChange: Date | null } | null = null;
  private loading: Promise<Template[]> | null = null;
  private _version = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get version(): number {
    return this._version;
  }

  invalidate(): void {
    this.cache = null;
    this._version++;
  }

  async list(): Promise<Template[]> {
    if (this.cache && this.now() - this.cache.at < this.ttlMs) return this.cache.templates;
    this.loading ??= (async () => {
      try {
        const [templates, latestChange] = await Promise.all([listTemplates(this.db), latestTemplateChange(this.db)]);
        const prev = this.cache;
        if (!prev || prev.latestChange?.getTime() !== latestChange?.getTime() || prev.templates.length !== templates.length) this._version++;
        this.cache = { at: this.now(), templates, latestChange };
        return templates;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  async get(name: string): Promise<Template | null> {
    const all = await this.list();
    return all.find((t) => t.name.toLowerCase() === name.toLowerCase()) ?? (await getTemplate(this.db, name));
  }

  async latestChange(): Promise<Date | null> {
    await this.list();
    return this.cache?.latestChange ?? null;
  }
}
