/** 0o644 -> '0644': the form chmod takes and plans show. */
export function formatModeOctal(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}
