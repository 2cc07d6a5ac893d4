// The price chart: TradingView's lightweight-charts (vendored by `make web`, never fetched from
// the internet), candles of the bid built from the live ticks, with the selected asset's open
// positions drawn as price lines (entry, stop-loss, take-profit, liquidation).

import { toChartNumber } from "./money.js";

const LIBRARY = "../vendor/lightweight-charts.js";
const BUCKET_S = 1; // one candle per second of ticks
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
    this.candles = new Map(); // asset -> [{time, open, high, low, close}]
    this.lines = [];
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
      timeScale: { timeVisible: true, secondsVisible: true, borderColor: "#2a3550" },
      rightPriceScale: { borderColor: "#2a3550" },
      crosshair: { mode: 0 },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: "#1fbf75",
      downColor: "#ef4f5f",
      wickUpColor: "#1fbf75",
      wickDownColor: "#ef4f5f",
      borderVisible: false,
    });
    return true;
  }

  /** Record a tick of any asset; draw it when that asset is on screen. */
  addTick(asset, bid, decimals, timestampMs) {
    const value = toChartNumber(bid, decimals);
    const time = Math.floor(localSeconds(timestampMs) / BUCKET_S) * BUCKET_S;
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
    if (this.series && asset === this.asset) this.series.update({ ...bar });
  }

  /** Show ``asset`` (prices with ``decimals`` places). */
  show(asset, decimals) {
    this.asset = asset;
    this.decimals = decimals;
    if (!this.series) return;
    const shown = Math.min(decimals, 8);
    this.series.applyOptions({
      priceFormat: { type: "price", precision: shown, minMove: 1 / 10 ** shown },
    });
    this.series.setData((this.candles.get(asset) || []).map((bar) => ({ ...bar })));
    this.chart.timeScale().scrollToRealTime();
  }

  /** Replace the price lines by these: [{price (scaled BigInt), title, kind}]. */
  setLines(lines) {
    if (!this.series) return;
    for (const line of this.lines) this.series.removePriceLine(line);
    const { LineStyle } = this.lib;
    const colors = { entry: "#6ea8ff", sl: "#ef4f5f", tp: "#1fbf75", liq: "#f5a524" };
    this.lines = lines.map((line) =>
      this.series.createPriceLine({
        price: toChartNumber(line.price, this.decimals),
        color: colors[line.kind] || "#aab4c8",
        lineWidth: 1,
        lineStyle: line.kind === "entry" ? LineStyle.Solid : LineStyle.Dashed,
        axisLabelVisible: true,
        title: line.title,
      }),
    );
  }
}
