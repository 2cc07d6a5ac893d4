// The price chart: TradingView's lightweight-charts (vendored by `make web`, never fetched from
// the internet), candles of the bid: the last few hundred of the chosen interval loaded from
// GET /api/v1/candles (built by the server from the price stream), then the live candle updated
// from the ticks, on the same UTC-aligned buckets as the server's. The selected asset's open
// positions are drawn as price lines (entry, stop-loss, take-profit, liquidation, trailing stop,
// pending orders), and the price scale takes them in, so they stay in view. A stop-loss or
// take-profit line can be dragged: dropped, it calls onLineDrop(line, priceText) with the price
// as exact decimal text at the asset's precision (the app amends the trade; the engine decides).
// Prices on the axis are at the asset's precision with thousands separators, like the page's.

import { fromWire, toChartNumber } from "./money.js";

const GRAB_PX = 6; // how near (in pixels) a press must be to a line to pick it up

/** A float price of the chart as text at ``places`` decimals with thousands separators. */
export function axisPrice(value, places) {
  const [whole, frac] = Math.abs(value).toFixed(places).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (value < 0 ? "-" : "") + (frac ? `${grouped}.${frac}` : grouped);
}

const LIBRARY = "../vendor/lightweight-charts.js";
export const INTERVALS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };
const HISTORY = 300; // candles loaded when an asset or interval is shown
const MAX_CANDLES = 2000;

/** Load the charting library; null (and a note in the chart area) when it is not installed. */
async function loadLibrary(container) {
  try {
    return await import(LIBRARY);
  } catch (err) {
    const note = document.createElement("p");
    note.className = "chart-missing";
    note.textContent =
      "The chart library is not installed on this server (run `make web`). Prices and trading work without it.";
    container.replaceChildren(note);
    return null;
  }
}

/** Chart timestamps are UTC seconds; shift to local time so the axis reads like a clock. */
function localSeconds(ms) {
  const offsetS = new Date(ms).getTimezoneOffset() * 60;
  return Math.floor(ms / 1000) - offsetS;
}

export class PriceChart {
  constructor(container) {
    this.container = container;
    this.lib = null;
    this.chart = null;
    this.series = null;
    this.asset = null;
    this.decimals = 4;
    this.candles = new Map(); // asset -> [{time, open, high, low, close}] of this.interval
    this.lines = [];
    this.lineSpecs = [];
    this.linePrices = [];
    this.dragging = null; // {index, price} while a line is being dragged
    this.onLineDrop = null; // (line spec, price text) => void
    // For tests and curious readers: each line's kind, trade and y coordinate in the chart.
    container.priceLines = () => this.lineSpecs.map((line, i) => ({
      kind: line.kind, tradeId: line.tradeId, draggable: Boolean(line.draggable),
      price: this.linePrices[i], y: this.series ? this.series.priceToCoordinate(this.linePrices[i]) : null,
    }));
    this.interval = "1m";
    this.loader = null; // async (asset, interval, limit) -> candles of GET /api/v1/candles
    this.loading = 0;
  }

  /** Switch to another candle interval: forget the candles, load that interval's history. */
  async setInterval(interval) {
    if (!(interval in INTERVALS) || interval === this.interval) return;
    this.interval = interval;
    this.candles.clear();
    if (this.series && this.chart) {
      this.chart.applyOptions({ timeScale: { secondsVisible: interval === "1m" } });
    }
    if (this.asset) await this.show(this.asset, this.decimals);
  }

  /** Load the last HISTORY candles of ``asset`` (merged under any live ticks already seen). */
  async loadHistory(asset, decimals) {
    if (!this.loader) return;
    const interval = this.interval;
    const token = ++this.loading;
    let rows;
    try {
      rows = await this.loader(asset, interval, HISTORY);
    } catch (err) {
      return; // no history (no candle store): the live ticks still draw
    }
    if (token !== this.loading || interval !== this.interval) return; // superseded
    const bars = rows.map((c) => ({
      time: localSeconds(Number(c.startTime)),
      open: toChartNumber(fromWire(c.open, decimals), decimals),
      high: toChartNumber(fromWire(c.high, decimals), decimals),
      low: toChartNumber(fromWire(c.low, decimals), decimals),
      close: toChartNumber(fromWire(c.close, decimals), decimals),
    }));
    const live = this.candles.get(asset) || [];
    const lastLoaded = bars.length ? bars[bars.length - 1].time : -Infinity;
    for (const bar of live) {
      if (bar.time > lastLoaded) bars.push(bar);
      else if (bar.time === lastLoaded) {
        const last = bars[bars.length - 1];
        last.high = Math.max(last.high, bar.high);
        last.low = Math.min(last.low, bar.low);
        last.close = bar.close;
      }
    }
    this.candles.set(asset, bars);
  }

  async init() {
    this.lib = await loadLibrary(this.container);
    if (!this.lib) return false;
    const { createChart, CandlestickSeries, ColorType } = this.lib;
    this.chart = createChart(this.container, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "#0f1522" },
        textColor: "#aab4c8",
        fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      },
      grid: { vertLines: { color: "#1b2436" }, horzLines: { color: "#1b2436" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3550",
                   rightOffset: 3 },
      rightPriceScale: { borderColor: "#2a3550" },
      crosshair: { mode: 0 },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: "#1fbf75",
      downColor: "#ef4f5f",
      wickUpColor: "#1fbf75",
      wickDownColor: "#ef4f5f",
      borderVisible: false,
      // The price scale takes in the position lines too, so they never leave the view.
      autoscaleInfoProvider: (original) => {
        const info = original();
        if (!info || !info.priceRange || !this.linePrices.length) return info;
        const { minValue, maxValue } = info.priceRange;
        return {
          ...info,
          priceRange: {
            minValue: Math.min(minValue, ...this.linePrices),
            maxValue: Math.max(maxValue, ...this.linePrices),
          },
        };
      },
    });
    this.bindDrag();
    return true;
  }

  /** Drag a stop-loss or take-profit line with the mouse (or a pen or finger). */
  bindDrag() {
    const box = this.container;
    const yOf = (ev) => ev.clientY - box.getBoundingClientRect().top;
    box.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      const y = yOf(ev);
      let best = null;
      this.lineSpecs.forEach((line, index) => {
        if (!line.draggable) return;
        const at = this.series.priceToCoordinate(this.linePrices[index]);
        const off = at === null ? Infinity : Math.abs(at - y);
        if (off <= GRAB_PX && (!best || off < best.off)) best = { index, off };
      });
      if (!best) return;
      this.dragging = { index: best.index, price: this.linePrices[best.index] };
      this.chart.applyOptions({ handleScroll: false, handleScale: false });
      box.setPointerCapture?.(ev.pointerId);
      box.style.cursor = "ns-resize";
      ev.preventDefault();
      ev.stopPropagation();
    }, true);
    box.addEventListener("pointermove", (ev) => {
      if (!this.dragging) {
        const y = yOf(ev);
        const near = this.lineSpecs.some((line, i) => line.draggable &&
          Math.abs((this.series.priceToCoordinate(this.linePrices[i]) ?? Infinity) - y) <= GRAB_PX);
        box.style.cursor = near ? "ns-resize" : "";
        return;
      }
      const price = this.series.coordinateToPrice(yOf(ev));
      if (price === null || !(price > 0)) return;
      this.dragging.price = price;
      this.lines[this.dragging.index].applyOptions({ price });
    }, true);
    const drop = (ev) => {
      if (!this.dragging) return;
      const { index, price } = this.dragging;
      this.dragging = null;
      this.chart.applyOptions({ handleScroll: true, handleScale: true });
      box.style.cursor = "";
      const line = this.lineSpecs[index];
      const text = Math.abs(price).toFixed(Math.min(this.decimals, 8));
      if (price !== this.linePrices[index] && this.onLineDrop) this.onLineDrop(line, text);
      ev.stopPropagation();
    };
    box.addEventListener("pointerup", drop, true);
    box.addEventListener("pointercancel", drop, true);
  }

  /** Record a tick of any asset; draw it when that asset is on screen. */
  addTick(asset, bid, decimals, timestampMs) {
    const value = toChartNumber(bid, decimals);
    const bucket = INTERVALS[this.interval];
    const startS = Math.floor(timestampMs / 1000 / bucket) * bucket; // UTC-aligned, as the server
    const time = localSeconds(startS * 1000);
    let bars = this.candles.get(asset);
    if (!bars) {
      bars = [];
      this.candles.set(asset, bars);
    }
    const last = bars[bars.length - 1];
    let bar;
    if (last && last.time === time) {
      bar = last;
      bar.high = Math.max(bar.high, value);
      bar.low = Math.min(bar.low, value);
      bar.close = value;
    } else if (!last || time > last.time) {
      bar = { time, open: last ? last.close : value, high: value, low: value, close: value };
      bar.high = Math.max(bar.high, bar.open);
      bar.low = Math.min(bar.low, bar.open);
      bars.push(bar);
      if (bars.length > MAX_CANDLES) bars.splice(0, bars.length - MAX_CANDLES);
    } else {
      return; // an older tick than the newest candle: already superseded
    }
    if (this.series && asset === this.asset) {
      this.series.update({ ...bar });
      this.mark(asset);
    }
  }

  /** What is drawn, for tests and curious readers: candle count, last candle's time and close. */
  mark(asset) {
    const bars = this.candles.get(asset) || [];
    const last = bars[bars.length - 1];
    this.container.dataset.interval = this.interval;
    this.container.dataset.candles = String(bars.length);
    this.container.dataset.lastTime = last ? String(last.time) : "";
    this.container.dataset.lastClose = last ? String(last.close) : "";
  }

  /** Show ``asset`` (prices with ``decimals`` places), with its history loaded first. */
  async show(asset, decimals) {
    this.asset = asset;
    this.decimals = decimals;
    if (!this.series) return;
    await this.loadHistory(asset, decimals);
    if (this.asset !== asset) return;
    const shown = Math.min(decimals, 8);
    this.series.applyOptions({
      priceFormat: {
        type: "custom", minMove: 1 / 10 ** shown, formatter: (p) => axisPrice(p, shown),
      },
    });
    this.series.setData((this.candles.get(asset) || []).map((bar) => ({ ...bar })));
    this.chart.timeScale().scrollToRealTime();
    this.mark(asset);
  }

  /** Replace the price lines by these: [{price (scaled BigInt), title, kind}]. */
  setLines(lines) {
    if (!this.series) return;
    for (const line of this.lines) this.series.removePriceLine(line);
    const { LineStyle } = this.lib;
    const colors = {
      entry: "#6ea8ff", sl: "#ef4f5f", tp: "#1fbf75", liq: "#f5a524", trail: "#d16bff", order: "#c8d0e0",
    };
    this.dragging = null;
    this.lineSpecs = lines;
    this.linePrices = lines.map((line) => toChartNumber(line.price, this.decimals));
    this.lines = lines.map((line) =>
      this.series.createPriceLine({
        price: toChartNumber(line.price, this.decimals),
        color: colors[line.kind] || "#aab4c8",
        lineStyle: line.kind === "entry" ? LineStyle.Solid
          : line.kind === "order" ? LineStyle.Dotted : LineStyle.Dashed,
        lineWidth: line.draggable ? 2 : 1,
        axisLabelVisible: true,
        title: line.title,
      }),
    );
  }
}
