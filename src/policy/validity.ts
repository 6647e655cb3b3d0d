import type { Template } from './template.js';

/** Validity from the template; the CA clips notAfter to its own. Backdated a minute for clock skew. */
export function decideValidity(t: Template, now: Date): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + t.validityPeriodSeconds * 1000) };
}

/** True when `now` is inside the template's renewal period before notAfter (and not after it). */
export function inRenewalWindow(t: Template, notAfter: Date, now: Date): boolean {
  const start = notAfter.getTime() - t.renewalPeriodSeconds * 1000;
  return now.getTime() >= start && now.getTime() < notAfter.getTime();
}
