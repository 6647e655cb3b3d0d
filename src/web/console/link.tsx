import type { ComponentChildren } from 'preact';
import { BASE, onLinkClick } from './router.js';

export function Link({ to, children, current }: { to: string; children: ComponentChildren; current?: boolean }) {
  return (
    <a href={`${BASE}${to}`} onClick={(e) => onLinkClick(e, to)} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}
