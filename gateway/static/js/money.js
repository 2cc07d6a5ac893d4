// Exact integer money and prices for the page, mirroring engine/money.py with BigInt.
// Nothing here uses floating point: amounts are parsed from and formatted to decimal strings
// digit by digit, and every division floors exactly as the engine does, so what the page shows
// before sending (entry, size, liquidation level, live PnL) is what the engine computes.

export const USD_DECIMALS = 4;
export const LEVERAGE_DECIMALS = 1; // leverage on the wire is in tenths: 10 = 1x, 1000 = 100x
export const LEVERAGE_SCALE = 10n;
const BPS = 10000n;
const DECIMAL_RE = /^([+-])?([0-9]*)(?:\.([0-9]*))?$/;

/** A decimal string or scaled integer that cannot be represented exactly. */
export class AmountError extends Error {}

/** Parse "123.45" into a BigInt scaled by 10**decimals, exactly, or throw AmountError. */
export function parseDecimal(text, decimals) {
  const s = String(text).trim();
  const match = s.length <= 64 ? DECIMAL_RE.exec(s) : null;
  if (!match || (!match[2] && !match[3])) {
    throw new AmountError("not a decimal number");
  }
  const frac = (match[3] || "").replace(/0+$/, "");
  if (frac.length > decimals) {
    throw new AmountError(`at most ${decimals} decimal${decimals === 1 ? "" : "s"}`);
  }
  const scale = 10n ** BigInt(decimals);
  const value = BigInt(match[2] || "0") * scale + BigInt(frac.padEnd(decimals, "0") || "0");
  return match[1] === "-" ? -value : value;
}

/**
 * Format a scaled integer as a decimal string (inverse of parseDecimal). Trailing zeros are
 * trimmed down to minFrac decimals; group=true puts thin commas between thousands.
 */
export function formatDecimal(value, decimals, { minFrac = 0, group = false } = {}) {
  const v = BigInt(value);
  const sign = v < 0n ? "-" : "";
  const digits = (v < 0n ? -v : v).toString().padStart(decimals + 1, "0");
  let whole = decimals ? digits.slice(0, -decimals) : digits;
  let frac = decimals ? digits.slice(-decimals).replace(/0+$/, "") : "";
  frac = frac.padEnd(Math.min(minFrac, decimals), "0");
  if (group) whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac ? `${sign}${whole}.${frac}` : `${sign}${whole}`;
}

/** USD units (4 decimals) exactly: at least 2 decimals, never rounded (hover and details). */
export function formatUsdExact(value, { sign = false } = {}) {
  const text = formatDecimal(value, USD_DECIMALS, { minFrac: 2, group: true });
  return sign && BigInt(value) > 0n ? `+${text}` : text;
}

const UNITS_PER_CENT = 10n ** BigInt(USD_DECIMALS - 2);

/**
 * USD units for display: 2 decimals, half a cent rounded away from zero, grouped thousands
 * ("1,234.57"); the exact amount goes in the element's title (formatUsdExact).
 */
export function formatUsd(value, { sign = false } = {}) {
  const v = BigInt(value);
  const magnitude = v < 0n ? -v : v;
  const cents = (magnitude + UNITS_PER_CENT / 2n) / UNITS_PER_CENT;
  const text = formatDecimal(cents, 2, { minFrac: 2, group: true });
  if (cents === 0n) return text;
  if (v < 0n) return `-${text}`;
  return sign ? `+${text}` : text;
}

/** A price in its asset's decimals, with all of them shown so that columns line up. */
export function formatPrice(value, decimals) {
  return formatDecimal(value, decimals, { minFrac: decimals, group: true });
}

/** Leverage in tenths as "12.5x". */
export function formatLeverage(tenths) {
  return `${formatDecimal(tenths, LEVERAGE_DECIMALS)}x`;
}

/** Rescale a scaled integer to other decimals; throw AmountError when digits would be lost. */
export function rescale(value, fromDecimals, toDecimals) {
  const v = BigInt(value);
  if (fromDecimals === toDecimals) return v;
  if (fromDecimals < toDecimals) return v * 10n ** BigInt(toDecimals - fromDecimals);
  const div = 10n ** BigInt(fromDecimals - toDecimals);
  if (v % div !== 0n) throw new AmountError("does not fit the asset's decimals exactly");
  return v / div;
}

/** Floor division of BigInts (BigInt "/" truncates toward zero; Python's "//" floors). */
export function floorDiv(a, b) {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

/** Profit in USD units, floored: margin x leverage x (exit - entry) / entry, as the engine. */
export function pnl(margin, leverage, entry, exitPrice, isLong) {
  const move = isLong ? BigInt(exitPrice) - BigInt(entry) : BigInt(entry) - BigInt(exitPrice);
  return floorDiv(BigInt(margin) * BigInt(leverage) * move, LEVERAGE_SCALE * BigInt(entry));
}

/** Loss (USD units) at which a position is liquidated; floored, at least 1. */
export function liquidationThreshold(margin, maintenanceBps = 0n) {
  const t = floorDiv(BigInt(margin) * (BPS - BigInt(maintenanceBps)), BPS);
  return t > 1n ? t : 1n;
}

/**
 * The price at which a position is liquidated, in closed form exactly as
 * engine.money.liquidation_level: LONG fires when bid <= level, SHORT when ask >= level.
 */
export function liquidationLevel(margin, leverage, entry, isLong, maintenanceBps = 0n) {
  const m = BigInt(margin);
  const e = BigInt(entry);
  const threshold = liquidationThreshold(m, maintenanceBps);
  const maxMove = floorDiv((1n - threshold) * LEVERAGE_SCALE * e - 1n, m * BigInt(leverage));
  return isLong ? e + maxMove : e - maxMove;
}

/** Notional size of a position in USD, exact: margin x leverage, with 5 decimals. */
export function notional(margin, leverage) {
  return formatDecimal(BigInt(margin) * BigInt(leverage), USD_DECIMALS + LEVERAGE_DECIMALS, {
    minFrac: 2,
    group: true,
  });
}

/**
 * A scaled integer as the API takes an amount: human units as exact decimal text ("100.5" is
 * 100.5 USD), never a float and never the scaled integer (an integer means whole units).
 */
export function wireAmount(value, decimals) {
  return formatDecimal(BigInt(value), decimals);
}

/**
 * An amount as the API writes it (a JSON number's source text from parseJson, a decimal string
 * in an event, or a safe integer) to a BigInt scaled by 10**decimals, exactly; null stays null.
 */
export function fromWire(value, decimals) {
  if (value === null || value === undefined) return null;
  return parseDecimal(typeof value === "bigint" ? value.toString() : String(value), decimals);
}

/** An approximate float of a scaled integer, only for drawing (the chart's y axis). */
export function toChartNumber(value, decimals) {
  return Number(formatDecimal(value, decimals));
}
