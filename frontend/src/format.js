// How numbers and times read on the page (en-US grouping, UTC times).

const money2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const qty8 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 8 });
const small = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 });

export const money = (x) => (x == null ? "–" : money2.format(x));
export const signed = (x) => (x == null ? "–" : (x > 0 ? "+" : "") + money2.format(x));
export const pct = (x) => (x == null ? "–" : `${money2.format(x)} %`);
export const qty = (x) => (x == null ? "–" : qty8.format(x));
export const price = (x) => (x == null ? "–" : Math.abs(x) >= 1 ? money2.format(x) : small.format(x));
export const num = (x) => (x == null ? "–" : small.format(x));
export const tone = (x) => (x == null || x === 0 ? "" : x > 0 ? "up" : "down");

export function time(ms) {
  if (ms == null) return "–";
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}
