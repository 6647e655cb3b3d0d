/** Polls `check` every `stepMs` until it holds or `ms` have passed; whether it held. */
export async function until(ms: number, check: () => boolean | Promise<boolean>, stepMs = 100): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}
