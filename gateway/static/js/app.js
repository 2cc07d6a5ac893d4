// The trading page: sign-in by email link, live prices and chart, the order ticket, open
// positions with live PnL, closed trades, the balance, and the engine's events as they happen.
// State comes from the gateway's REST API and is kept current by the WebSocket feed; every
// event the engine sends for this user also triggers a REST refresh, so the page converges on
// the engine's state even if it missed something.

import { ApiError, api, newIdempotencyKey, setCsrfToken } from "./api.js";
import { PriceChart } from "./chart.js";
import { byId, dateTime, el, setSigned } from "./dom.js";
import { Feed } from "./feed.js";
import {
  AmountError, USD_DECIMALS, formatLeverage, formatPrice, formatUsd, formatUsdExact, fromWire,
  parseDecimal, pnl, rescale, wireAmount,
} from "./money.js";
import { Ticket } from "./ticket.js";

const CLOSED_LIMIT = 50;
const MAX_EVENTS = 100;
const REASONS = {
  TRADE_CLOSED: "Closed",
  TRADE_STOP_LOSS: "Stop-loss",
  TRADE_TAKE_PROFIT: "Take-profit",
  TRADE_LIQUIDATED: "Liquidated",
  TRADE_TRAILING_STOP: "Trailing stop",
  TRADE_FORCE_CLOSED: "Closed by the operator",
};
// The worker's close reasons (GET /api/v1/trades/history) as the engine's event types.
const HISTORY_REASONS = {
  closed: "TRADE_CLOSED", stop_loss: "TRADE_STOP_LOSS", take_profit: "TRADE_TAKE_PROFIT",
  liquidated: "TRADE_LIQUIDATED", trailing_stop: "TRADE_TRAILING_STOP",
  force_closed: "TRADE_FORCE_CLOSED",
};

const state = {
  assets: new Map(), // symbol -> {decimals}
  quotes: new Map(), // symbol -> {bid, ask, timestamp} in the asset's decimals (BigInt)
  user: null,
  open: new Map(), // tradeId -> trade (engine view, numbers as BigInt)
  closed: [],
  orders: [], // pending LIMIT/STOP orders (engine views, numbers as BigInt)
  history: [], // closed trades from the worker's history (survive a restart of the engine)
  managing: new Set(), // tradeIds whose amend / partial-close row is open
  balance: null, // {free, locked} BigInt
  selected: null,
  seenEvents: new Set(),
};

const market = {
  assets: state.assets,
  quote: (symbol) => state.quotes.get(symbol) || null,
};

const chart = new PriceChart(byId("chart"));
chart.loader = (asset, interval, limit) =>
  api("GET", `/api/v1/candles?asset=${encodeURIComponent(asset)}&interval=${interval}&limit=${limit}`);
const ticket = new Ticket({
  market,
  onOpened: (trade) => {
    upsertOpen(trade);
    if (trade.usdBalance !== undefined && state.balance) {
      state.balance.free = usd(trade.usdBalance);
      state.balance.locked += usd(trade.margin);
    }
    renderAccount();
    refresh();
  },
  onPlaced: () => refresh(),
  onUnauthorized: () => signedOut("Your session ended; sign in again."),
  onAssetChange: (symbol) => select(symbol),
});
chart.onLineDrop = (line, text) => amendFromChart(line, text);
const feed = new Feed({
  onStatus: renderFeedStatus,
  onOpen: (user) => {
    if (state.user && user !== state.user.email) checkSession();
    else if (state.user) refresh(); // after a reconnect: catch up on anything missed
  },
  onPrices: onPrices,
  onEvent: onEvent,
  onResync: () => refresh(),
  onTicker: onTicker,
  onUnauthorized: () => signedOut("Your session ended; sign in again."),
});

// --- numbers from the API ------------------------------------------------------------------------

// Amounts arrive in human units (answers: exact JSON numbers, read as their text by parseJson;
// events: decimal strings); inside the page they are scaled BigInts, as in the engine.
const USD_FIELDS = [
  "margin", "pnl", "marginReturned", "totalReturn", "usdBalance", "balance", "closedMargin",
  "remainingMargin", "reservedUsd",
];
const PRICE_FIELDS = [
  "entryPrice", "stopLossPrice", "takeProfitPrice", "liquidationPrice", "exitPrice", "closePrice",
  "trailingDistance", "trailingStopPrice", "price", "orderPrice",
];

/** USD in human units (a number's text or a decimal string) as scaled BigInt units. */
function usd(value) {
  return fromWire(value, USD_DECIMALS);
}

/** A USD amount for display (2 decimals) with the exact amount on hover (title). */
function usdEl(tag, props, value, opts = {}) {
  return el(tag, { ...props, title: `${formatUsdExact(value, opts)} USD` }, formatUsd(value, opts));
}

function setUsd(node, value, { suffix = "", ...opts } = {}) {
  node.textContent = formatUsd(value, opts) + suffix;
  node.title = `${formatUsdExact(value, opts)} USD`;
}

/** An engine trade view or event with its amounts as scaled BigInts (null stays null). */
function tradeFrom(view) {
  const trade = { ...view };
  const places = view.priceDecimals !== undefined ? Number(view.priceDecimals) : decimalsOf(view.asset);
  for (const key of USD_FIELDS) if (key in trade) trade[key] = usd(trade[key]);
  for (const key of PRICE_FIELDS) if (key in trade) trade[key] = fromWire(trade[key], places);
  // Answers and events give leverage as the multiplier; the page computes in tenths.
  trade.leverage = view.leverageTenths !== undefined
    ? BigInt(view.leverageTenths) : fromWire(view.leverage, 1);
  if (!trade.exitPrice) trade.exitPrice = trade.closePrice ?? null; // events: "0.00" when unset
  for (const key of ["openedAt", "closedAt"]) {
    if (trade[key] !== undefined && trade[key] !== null) trade[key] = BigInt(trade[key]);
  }
  return trade;
}

function decimalsOf(asset) {
  const info = state.assets.get(asset);
  return info ? info.decimals : 4;
}

function price(asset, value) {
  return value === null || value === undefined ? "—" : formatPrice(value, decimalsOf(asset));
}

// --- markets ------------------------------------------------------------------------------------

async function loadAssets() {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    try {
      const body = await api("GET", "/api/v1/assets");
      for (const a of body.assets) state.assets.set(a.symbol, { decimals: Number(a.decimals) });
      return;
    } catch (err) {
      byId("markets-note").textContent = `Cannot load the markets (${err.message}); retrying…`;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * (attempt + 1), 10000)));
    }
  }
}

function renderMarkets() {
  const body = byId("markets").tBodies[0];
  body.replaceChildren(
    ...[...state.assets.keys()].map((symbol) =>
      el(
        "tr",
        {
          dataset: { asset: symbol },
          tabindex: "0",
          "aria-selected": String(symbol === state.selected),
          onclick: () => select(symbol),
          onkeydown: (ev) => {
            if (ev.key === "Enter" || ev.key === " ") select(symbol);
          },
        },
        el("td", { className: "sym" }, symbol.replace("_", "/")),
        el("td", { className: "num bid" }, "—"),
        el("td", { className: "num ask" }, "—"),
        el("td", { className: "num chg" }, "—"),
      ),
    ),
  );
  ticket.setAssets([...state.assets.keys()]);
  for (const symbol of state.quotes.keys()) renderQuote(symbol, null);
}

async function loadPrices() {
  await Promise.all(
    [...state.assets.keys()].map(async (symbol) => {
      try {
        const tick = await api("GET", `/api/v1/price?asset=${encodeURIComponent(symbol)}`);
        applyTick(tick);
      } catch (err) {
        // 404: no price yet for this asset; the feed brings the first one.
      }
    }),
  );
}

/** Store one tick (rescaled exactly to the asset's decimals); false when it cannot be used. */
function applyTick(tick) {
  const info = state.assets.get(tick.asset);
  if (!info) return false;
  let bid;
  let ask;
  try {
    const from = Number(tick.decimal ?? info.decimals);
    bid = rescale(BigInt(tick.bid ?? tick.price), from, info.decimals);
    ask = rescale(BigInt(tick.ask ?? tick.price), from, info.decimals);
  } catch (err) {
    if (err instanceof AmountError || err instanceof RangeError || err instanceof TypeError) {
      return false; // the engine refuses such a price too
    }
    throw err;
  }
  const previous = state.quotes.get(tick.asset) || null;
  const timestamp = Number(tick.timestamp) || Date.now();
  state.quotes.set(tick.asset, { bid, ask, timestamp });
  chart.addTick(tick.asset, bid, info.decimals, timestamp);
  renderQuote(tick.asset, previous);
  return true;
}

function onPrices(prices) {
  const touched = new Set();
  for (const tick of prices) {
    if (tick && typeof tick === "object" && applyTick(tick)) touched.add(tick.asset);
  }
  if (!touched.size) return;
  byId("markets-note").hidden = true;
  if (touched.has(ticket.asset.value)) ticket.preview();
  renderMarks(touched);
}

/** The 24 h change of every asset in the market list (from the WebSocket's ticker message). */
function onTicker(tickers) {
  for (const t of tickers) {
    if (!t || typeof t !== "object" || !state.assets.has(t.symbol)) continue;
    const row = byId("markets").querySelector(`tr[data-asset="${CSS.escape(t.symbol)}"]`);
    if (!row) continue;
    const cell = row.querySelector(".chg");
    if (t.priceChangePercent === null || t.priceChangePercent === undefined) {
      cell.textContent = "—";
      continue;
    }
    const pct = String(t.priceChangePercent);
    const negative = pct.startsWith("-");
    cell.textContent = `${negative || pct === "0.00" ? "" : "+"}${pct}%`;
    cell.title = `24 h: ${t.firstPrice} → ${t.lastPrice} (high ${t.high}, low ${t.low})`;
    cell.dataset.value = pct;
    cell.classList.toggle("up", !negative && pct !== "0.00");
    cell.classList.toggle("down", negative);
  }
}

async function loadTickers() {
  try {
    onTicker(await api("GET", "/api/v1/ticker"));
  } catch (err) {
    // no candle store: the 24 h column stays empty until a ticker message comes
  }
}

function renderQuote(symbol, previous) {
  const quote = state.quotes.get(symbol);
  const row = byId("markets").querySelector(`tr[data-asset="${CSS.escape(symbol)}"]`);
  if (!quote || !row) return;
  for (const side of ["bid", "ask"]) {
    const cell = row.querySelector(`.${side}`);
    cell.textContent = price(symbol, quote[side]);
    cell.dataset.value = quote[side].toString();
    if (previous && previous[side] !== quote[side]) {
      cell.classList.toggle("up", quote[side] > previous[side]);
      cell.classList.toggle("down", quote[side] < previous[side]);
    }
  }
  if (symbol === state.selected) {
    byId("quote-bid").textContent = price(symbol, quote.bid);
    byId("quote-bid").dataset.value = quote.bid.toString();
    byId("quote-ask").textContent = price(symbol, quote.ask);
    byId("quote-ask").dataset.value = quote.ask.toString();
  }
}

function select(symbol) {
  if (!state.assets.has(symbol)) return;
  state.selected = symbol;
  for (const row of byId("markets").tBodies[0].rows) {
    row.setAttribute("aria-selected", String(row.dataset.asset === symbol));
  }
  byId("chart-asset").textContent = symbol.replace("_", "/");
  byId("quote-bid").textContent = "—";
  byId("quote-ask").textContent = "—";
  chart.show(symbol, decimalsOf(symbol));
  renderQuote(symbol, null);
  ticket.selectAsset(symbol);
  renderChartLines();
}

function renderChartLines() {
  const lines = [];
  for (const t of state.open.values()) {
    if (t.asset !== state.selected) continue;
    const side = t.direction === "LONG" ? "Long" : "Short";
    const id = t.tradeId;
    lines.push({ price: t.entryPrice, title: `${side} ${formatLeverage(t.leverage)}`, kind: "entry", tradeId: id });
    // stop-loss and take-profit can be dragged to a new level (MODIFY_TRADE)
    if (t.stopLossPrice) lines.push({ price: t.stopLossPrice, title: "SL", kind: "sl", tradeId: id, draggable: true });
    if (t.takeProfitPrice) lines.push({ price: t.takeProfitPrice, title: "TP", kind: "tp", tradeId: id, draggable: true });
    if (t.trailingStopPrice) lines.push({ price: t.trailingStopPrice, title: "Trail", kind: "trail", tradeId: id });
    if (t.liquidationPrice && t.liquidationPrice > 0n) {
      lines.push({ price: t.liquidationPrice, title: "Liq.", kind: "liq", tradeId: id });
    }
  }
  for (const o of state.orders) {
    if (o.asset !== state.selected) continue;
    const side = o.direction === "LONG" ? "Buy" : "Sell";
    lines.push({ price: o.price, title: `${side} ${o.type.toLowerCase()}`, kind: "order", tradeId: o.orderId });
  }
  chart.setLines(lines);
}

// --- session ------------------------------------------------------------------------------------

async function checkSession() {
  try {
    const me = await api("GET", "/api/v1/auth/me");
    signedIn(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signedOut();
    else setTimeout(checkSession, 3000); // the gateway is down: ask again
  }
}

function signedIn(me) {
  const changed = !state.user || state.user.email !== me.email;
  state.user = { email: me.email };
  setCsrfToken(me.csrfToken);
  byId("user-email").textContent = me.email;
  byId("account-bar").hidden = false;
  byId("signin").hidden = true;
  byId("ticket").hidden = false;
  byId("account").hidden = false;
  if (changed) {
    feed.restart({ forgetEvents: true }); // the socket must carry the new session's cookie
    refresh();
    loadActivity();
  }
}

const ACTIVITY_LABELS = {
  ACCOUNT_CREATED: "Account opened",
  TRADE_OPENED: "Opened",
  TRADE_CLOSED: "Closed",
  TRADE_STOP_LOSS: "Stop-loss hit",
  TRADE_TAKE_PROFIT: "Take-profit hit",
  TRADE_LIQUIDATED: "Liquidated",
  TRADE_TRAILING_STOP: "Trailing stop hit",
  TRADE_FORCE_CLOSED: "Closed by the operator",
  TRADE_MODIFIED: "Exits amended",
  ORDER_PLACED: "Order placed, margin reserved",
  ORDER_FILLED: "Order filled",
  ORDER_CANCELLED: "Order cancelled, margin released",
  ORDER_EXPIRED: "Order expired, margin released",
  ORDER_REJECTED: "Order rejected at fill, margin released",
  BALANCE_ADJUSTED: "Balance adjusted",
};

/** The activity feed as it was: the newest balance changes from the worker's history. */
async function loadActivity() {
  let page;
  try {
    page = await api("GET", "/api/v1/account/activity?limit=50");
  } catch (err) {
    return; // no history store: the feed starts empty and fills live
  }
  const list = byId("events");
  list.replaceChildren();
  for (const item of [...page.items].reverse()) {
    const label = ACTIVITY_LABELS[item.eventType] || item.eventType;
    const amount = usd(item.amount);
    const trade = item.tradeId ? ` (trade ${item.tradeId.slice(-8)})` : "";
    const text = amount === 0n
      ? `${label}${trade}; balance ${formatUsd(usd(item.balance))} USD.`
      : `${label}${trade}: ${formatUsd(amount, { sign: true })} USD, balance ` +
        `${formatUsd(usd(item.balance))} USD.`;
    logEvent("history", text, { eventType: item.eventType, timestamp: item.timestamp });
  }
}

function signedOut(message = null) {
  const was = state.user !== null;
  state.user = null;
  state.balance = null;
  state.open.clear();
  state.closed = [];
  setCsrfToken(null);
  byId("account-bar").hidden = true;
  byId("signin").hidden = false;
  byId("ticket").hidden = true;
  byId("account").hidden = true;
  renderOpen();
  renderClosed();
  renderAccount();
  if (message) showSigninStatus(message, "warn");
  if (was) feed.restart({ forgetEvents: true });
}

function showSigninStatus(text, kind = "ok") {
  const node = byId("signin-status");
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = false;
}

async function requestLink(ev) {
  ev.preventDefault();
  const form = byId("signin-form");
  const error = form.querySelector('[data-error-for="email"]');
  const input = byId("signin-email");
  const button = byId("signin-submit");
  const email = input.value.trim();
  error.textContent = "";
  byId("signin-status").hidden = true;
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
    error.textContent = "enter your email address";
    input.setAttribute("aria-invalid", "true");
    return;
  }
  input.removeAttribute("aria-invalid");
  button.disabled = true;
  try {
    await api("POST", "/api/v1/user/signup", { email });
    showSigninStatus(
      `Check your inbox: a sign-in link for ${email} is on its way (valid 15 minutes). ` +
        "Running the exchange locally with `make up`? Its dev mailbox shows the mail.",
    );
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.field === "email" || err.field === "body") error.textContent = err.message;
    else showSigninStatus(err.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api("DELETE", "/api/v1/auth/logout");
  } catch (err) {
    // Signed out already (401) or the gateway is down: forget the session here either way.
  }
  signedOut("You are signed out.");
}

// --- account state ------------------------------------------------------------------------------

let refreshing = null;
let refreshAgain = false;

/** Reload balance, open and closed trades; calls during a reload run it once more after. */
async function refresh() {
  if (!state.user) return;
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      try {
        const [balance, open, closed, orders, history] = await Promise.all([
          api("GET", "/api/v1/account/balance/usd"),
          api("GET", "/api/v1/trades/open"),
          api("GET", `/api/v1/trades/closed?limit=${CLOSED_LIMIT}`),
          api("GET", "/api/v1/orders/open"),
          // the worker's history: what the engine no longer keeps (older closes, a restart)
          api("GET", `/api/v1/trades/history?limit=${CLOSED_LIMIT}`).catch(() => null),
        ]);
        if (!state.user) return;
        state.balance = {
          free: usd(balance.usdBalance), locked: usd(balance.lockedUsd),
          reserved: balance.reservedUsd === undefined ? 0n : usd(balance.reservedUsd),
        };
        state.open = new Map(open.trades.map((t) => [t.tradeId, tradeFrom(t)]));
        if (history) state.history = history.items.map(historyTrade);
        state.closed = mergeClosed(closed.trades.map(tradeFrom), state.history);
        state.orders = orders.orders.map(tradeFrom);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          signedOut("Your session ended; sign in again.");
          return;
        }
        logEvent("warn", `Could not refresh the account: ${err.message}`);
      }
      renderOpen();
      renderOrders();
      renderClosed();
      renderAccount();
    } while (refreshAgain && state.user);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

/** A closed trade of GET /api/v1/trades/history in the engine's shape. */
function historyTrade(item) {
  const places = decimalsOf(item.asset);
  return {
    tradeId: item.tradeId, asset: item.asset, direction: item.direction,
    margin: usd(item.margin), leverage: fromWire(item.leverage, 1),
    entryPrice: fromWire(item.entryPrice, places), exitPrice: fromWire(item.exitPrice, places),
    pnl: usd(item.pnl), marginReturned: usd(item.marginReturned), totalReturn: null,
    reason: HISTORY_REASONS[item.reason] || item.reason,
    closedAt: BigInt(item.closedAt), openedAt: item.openedAt ? BigInt(item.openedAt) : null,
  };
}

function closedKey(t) {
  return `${t.tradeId}|${t.closedAt}|${t.margin}`;
}

/** The engine's closed trades and the worker's history, once each, newest first. */
function mergeClosed(...lists) {
  const seen = new Map();
  for (const list of lists) for (const t of list) if (!seen.has(closedKey(t))) seen.set(closedKey(t), t);
  return [...seen.values()]
    .sort((a, b) => Number((b.closedAt || 0n) - (a.closedAt || 0n)))
    .slice(0, CLOSED_LIMIT);
}

function upsertOpen(view) {
  const trade = tradeFrom(view);
  state.open.set(trade.tradeId, trade);
  renderOpen();
}

function renderAccount() {
  const b = state.balance;
  const free = byId("balance-free");
  if (!b) {
    free.textContent = "—";
    for (const id of ["account-free", "account-locked", "account-upnl", "account-equity",
      "top-equity"]) {
      byId(id).textContent = "—";
    }
    return;
  }
  setUsd(free, b.free);
  free.dataset.value = b.free.toString();
  setUsd(byId("account-free"), b.free);
  byId("account-free").dataset.value = b.free.toString();
  setUsd(byId("account-locked"), b.locked);
  setUsd(byId("account-reserved"), b.reserved || 0n);
  renderEquity();
}

/** Unrealised PnL and equity (free + what closing everything now would return). */
function renderEquity() {
  if (!state.balance) return;
  let upnl = 0n;
  let returned = 0n;
  let complete = true;
  for (const t of state.open.values()) {
    const p = livePnl(t);
    if (p === null) {
      complete = false;
      returned += t.margin;
      continue;
    }
    upnl += p;
    returned += t.margin + p > 0n ? t.margin + p : 0n;
  }
  setSigned(byId("account-upnl"), upnl, formatUsd(upnl, { sign: true }) + (complete ? "" : " …"));
  byId("account-upnl").title = `${formatUsdExact(upnl, { sign: true })} USD`;
  // reserved margin of pending orders comes back in full on a cancel: it is equity too
  const equity = state.balance.free + (state.balance.reserved || 0n) + returned;
  setUsd(byId("account-equity"), equity);
  setUsd(byId("top-equity"), equity, { suffix: complete ? "" : " …" });
  byId("top-equity").dataset.value = equity.toString();
}

/** A position's PnL at the price it would close at now: bid for a long, ask for a short. */
function markOf(trade) {
  const quote = state.quotes.get(trade.asset);
  if (!quote) return null;
  return trade.direction === "LONG" ? quote.bid : quote.ask;
}

function livePnl(trade) {
  const mark = markOf(trade);
  if (mark === null) return null;
  return pnl(trade.margin, trade.leverage, trade.entryPrice, mark, trade.direction === "LONG");
}

function renderOpen() {
  const body = byId("open-trades").tBodies[0];
  const trades = [...state.open.values()].sort((a, b) => Number((b.openedAt || 0n) - (a.openedAt || 0n)));
  body.replaceChildren(
    ...trades.flatMap((t) => (state.managing.has(t.tradeId) ? [openRow(t), manageRow(t)] : [openRow(t)])),
  );
  byId("open-empty").hidden = trades.length > 0;
  byId("open-count").textContent = String(trades.length);
  renderMarks(null);
  renderChartLines();
}

function openRow(t) {
  const closeButton = el("button", { type: "button", className: "close-trade" }, "Close");
  closeButton.addEventListener("click", () => closeTrade(t.tradeId, closeButton));
  const manageButton = el("button", {
    type: "button", className: "row-button manage", "aria-expanded": String(state.managing.has(t.tradeId)),
  }, "Amend");
  manageButton.addEventListener("click", () => {
    if (state.managing.has(t.tradeId)) state.managing.delete(t.tradeId);
    else state.managing.add(t.tradeId);
    renderOpen();
  });
  const long = t.direction === "LONG";
  return el(
    "tr",
    { dataset: { tradeId: t.tradeId, asset: t.asset } },
    el("td", { className: "sym" }, t.asset.replace("_", "/")),
    el("td", { className: long ? "side up" : "side down" }, long ? "Long" : "Short"),
    usdEl("td", { className: "num margin", dataset: { value: t.margin.toString() } }, t.margin),
    el("td", { className: "num" }, formatLeverage(t.leverage)),
    el("td", { className: "num entry", dataset: { value: t.entryPrice.toString() } }, price(t.asset, t.entryPrice)),
    el("td", { className: "num mark" }, "—"),
    el("td", { className: "num sl", dataset: { value: (t.stopLossPrice ?? "").toString() } },
      t.stopLossPrice ? price(t.asset, t.stopLossPrice) : "—"),
    el("td", { className: "num tp", dataset: { value: (t.takeProfitPrice ?? "").toString() } },
      t.takeProfitPrice ? price(t.asset, t.takeProfitPrice) : "—"),
    el(
      "td",
      { className: "num trail", title: t.trailingStopPrice ? `stop now ${price(t.asset, t.trailingStopPrice)}` : "" },
      t.trailingDistance ? price(t.asset, t.trailingDistance) : "—",
    ),
    el(
      "td",
      { className: "num liq" },
      t.liquidationPrice && t.liquidationPrice > 0n ? price(t.asset, t.liquidationPrice) : "—",
    ),
    el("td", { className: "num pnl" }, "—"),
    el("td", { className: "act" }, manageButton, " ", closeButton,
      el("span", { className: "row-error", role: "alert" })),
  );
}

/** Amend stop-loss / take-profit / trailing distance, or close part of the position. */
function manageRow(t) {
  const d = decimalsOf(t.asset);
  const input = (name, value, label) => el("label", { className: "inline" }, label,
    el("input", { name, inputmode: "decimal", autocomplete: "off",
      value: value ? formatDecimalText(value, d) : "" }));
  const form = el("form", { className: "manage-form", dataset: { tradeId: t.tradeId } },
    input("stopLossPrice", t.stopLossPrice, "Stop-loss"),
    input("takeProfitPrice", t.takeProfitPrice, "Take-profit"),
    input("trailingDistance", t.trailingDistance, "Trailing distance"),
    el("button", { type: "submit", className: "row-button", name: "save" }, "Save exits"),
    el("label", { className: "inline" }, "Close margin (USD)",
      el("input", { name: "closeMargin", inputmode: "decimal", autocomplete: "off",
        placeholder: `up to ${formatUsdExact(t.margin)}` })),
    el("button", { type: "button", className: "row-button", name: "closePart" }, "Close part"),
    el("p", { className: "row-error", role: "alert" }),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    amendTrade(t, form);
  });
  form.elements.closePart.addEventListener("click", () => closePart(t, form));
  return el("tr", { className: "manage", dataset: { manages: t.tradeId } },
    el("td", { colspan: "12" }, form));
}

function formatDecimalText(value, places) {
  return formatPrice(value, places).replaceAll(",", "");
}

/**
 * MODIFY_TRADE from the amend form: a field left as it was is not sent (a trailing distance
 * sent anew restarts its high-water mark), an emptied one is sent as null (remove that exit).
 */
async function amendTrade(t, form) {
  const error = form.querySelector(".row-error");
  error.textContent = "";
  const d = decimalsOf(t.asset);
  const body = {};
  for (const name of ["stopLossPrice", "takeProfitPrice", "trailingDistance"]) {
    const text = form.elements[name].value.trim();
    const before = t[name] ? formatDecimalText(t[name], d) : "";
    if (text === before) continue;
    if (!text) {
      body[name] = null;
      continue;
    }
    try {
      body[name] = wireAmount(parseDecimal(text, d), d);
    } catch (err) {
      if (!(err instanceof AmountError)) throw err;
      error.textContent = `${name}: ${err.message}`;
      return;
    }
  }
  if (!Object.keys(body).length) {
    error.textContent = "Nothing changed.";
    return;
  }
  await sendAmend(t.tradeId, body, (message) => { error.textContent = message; });
}

async function sendAmend(tradeId, body, onError) {
  try {
    const view = await api("PATCH", `/api/v1/trades/${encodeURIComponent(tradeId)}`, body,
      { idempotencyKey: newIdempotencyKey() });
    state.managing.delete(tradeId);
    upsertOpen(view);
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) signedOut("Your session ended; sign in again.");
    else onError(err.message);
    refresh();
    return false;
  }
}

/** A stop-loss or take-profit line dropped on the chart at ``text`` (the asset's decimals). */
async function amendFromChart(line, text) {
  const t = state.open.get(line.tradeId);
  if (!t) return;
  const name = line.kind === "sl" ? "stopLossPrice" : "takeProfitPrice";
  const ok = await sendAmend(t.tradeId, { [name]: text }, (message) =>
    logEvent("warn", `Could not move the ${line.kind === "sl" ? "stop-loss" : "take-profit"}: ${message}`));
  if (!ok) renderChartLines(); // put the line back where the engine has it
}

async function closePart(t, form) {
  const error = form.querySelector(".row-error");
  error.textContent = "";
  let margin;
  try {
    margin = parseDecimal(form.elements.closeMargin.value, USD_DECIMALS);
  } catch (err) {
    if (!(err instanceof AmountError)) throw err;
    error.textContent = `margin: ${err.message}`;
    return;
  }
  if (margin <= 0n) {
    error.textContent = "margin must be greater than 0";
    return;
  }
  try {
    const closed = await api("POST", "/api/v1/trade/close",
      { tradeId: t.tradeId, margin: wireAmount(margin, USD_DECIMALS) },
      { idempotencyKey: newIdempotencyKey() });
    state.managing.delete(t.tradeId);
    if (closed.remainingMargin === undefined) applyClosed(tradeFrom(closed), usd(closed.usdBalance));
    else refresh();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) signedOut("Your session ended; sign in again.");
    else error.textContent = err.message;
  }
}

// --- pending orders -----------------------------------------------------------------------------

function renderOrders() {
  const body = byId("pending-orders").tBodies[0];
  body.replaceChildren(...state.orders.map(orderRow));
  byId("pending-empty").hidden = state.orders.length > 0;
  byId("pending-count").textContent = String(state.orders.length);
  renderChartLines();
}

function orderRow(o) {
  const cancel = el("button", { type: "button", className: "row-button cancel-order" }, "Cancel");
  cancel.addEventListener("click", () => cancelOrder(o.orderId, cancel));
  const long = o.direction === "LONG";
  return el(
    "tr",
    { dataset: { orderId: o.orderId, asset: o.asset } },
    el("td", { className: "when" }, dateTime(o.placedAt)),
    el("td", { className: "sym" }, o.asset.replace("_", "/")),
    el("td", { className: long ? "side up" : "side down" }, long ? "Long" : "Short"),
    el("td", {}, o.type === "LIMIT" ? "Limit" : "Stop"),
    el("td", { className: "num price", dataset: { value: o.price.toString() } }, price(o.asset, o.price)),
    usdEl("td", { className: "num" }, o.margin),
    el("td", { className: "num" }, formatLeverage(o.leverage)),
    el("td", { className: "num" }, o.stopLossPrice ? price(o.asset, o.stopLossPrice) : "—"),
    el("td", { className: "num" }, o.takeProfitPrice ? price(o.asset, o.takeProfitPrice) : "—"),
    el("td", { className: "num" }, o.trailingDistance ? price(o.asset, o.trailingDistance) : "—"),
    el("td", { className: "when" }, o.expiresAt ? dateTime(o.expiresAt) : "—"),
    el("td", { className: "act" }, cancel, el("span", { className: "row-error", role: "alert" })),
  );
}

async function cancelOrder(orderId, button) {
  const error = button.closest("tr").querySelector(".row-error");
  error.textContent = "";
  button.disabled = true;
  try {
    await api("DELETE", `/api/v1/orders/${encodeURIComponent(orderId)}`, undefined,
      { idempotencyKey: newIdempotencyKey() });
    state.orders = state.orders.filter((o) => o.orderId !== orderId);
    renderOrders();
    refresh();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) {
      signedOut("Your session ended; sign in again.");
      return;
    }
    error.textContent = err.message;
    button.disabled = false;
    refresh(); // filled or expired meanwhile
  }
}

/** Update mark price and PnL cells of the positions in ``assets`` (all when null). */
function renderMarks(assets) {
  for (const row of byId("open-trades").tBodies[0].rows) {
    if (assets && !assets.has(row.dataset.asset)) continue;
    const t = state.open.get(row.dataset.tradeId);
    if (!t) continue;
    const mark = markOf(t);
    const p = livePnl(t);
    row.querySelector(".mark").textContent = price(t.asset, mark);
    const cell = row.querySelector(".pnl");
    if (p === null) cell.textContent = "—";
    else {
      setSigned(cell, p, formatUsd(p, { sign: true }));
      cell.title = `${formatUsdExact(p, { sign: true })} USD`;
      cell.dataset.value = p.toString();
    }
  }
  renderEquity();
}

async function closeTrade(tradeId, button) {
  const row = button.closest("tr");
  const error = row.querySelector(".row-error");
  error.textContent = "";
  button.disabled = true;
  const key = newIdempotencyKey();
  try {
    let closed = null;
    for (let attempt = 0; ; attempt += 1) {
      try {
        closed = await api("POST", "/api/v1/trade/close", { tradeId }, { idempotencyKey: key });
        break;
      } catch (err) {
        const retriable = err instanceof ApiError && (err.status === 504 || err.status === 0);
        if (!retriable || attempt >= 3) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
    applyClosed(tradeFrom(closed), usd(closed.usdBalance));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) {
      signedOut("Your session ended; sign in again.");
      return;
    }
    error.textContent = err.message;
    button.disabled = false;
    if (err.code === "TRADE_NOT_FOUND") refresh(); // closed meanwhile (stop-loss, ...)
  }
}

/** Move a trade from open to closed and set the balance, from a close answer or an event. */
function applyClosed(closed, balance) {
  const wasOpen = state.open.delete(closed.tradeId);
  state.closed = mergeClosed([closed], state.closed); // parts of one trade share its tradeId
  if (state.balance && balance !== undefined && balance !== null) {
    state.balance.free = balance;
    if (wasOpen) state.balance.locked -= closed.margin;
  }
  renderOpen();
  renderClosed();
  renderAccount();
  refresh();
}

function renderClosed() {
  const body = byId("closed-trades").tBodies[0];
  body.replaceChildren(
    ...state.closed.map((t) =>
      el(
        "tr",
        { dataset: { tradeId: t.tradeId, reason: t.reason || "", margin: t.margin.toString() } },
        el("td", { className: "when" }, dateTime(t.closedAt)),
        el("td", { className: "sym" }, t.asset.replace("_", "/")),
        el("td", { className: t.direction === "LONG" ? "side up" : "side down" },
          t.direction === "LONG" ? "Long" : "Short"),
        usdEl("td", { className: "num" }, t.margin),
        el("td", { className: "num" }, formatLeverage(t.leverage)),
        el("td", { className: "num" }, price(t.asset, t.entryPrice)),
        el("td", { className: "num exit" }, price(t.asset, t.exitPrice)),
        el("td", { className: "reason" },
          (REASONS[t.reason] || t.reason || "") + (t.remainingMargin ? " (part)" : "")),
        el(
          "td",
          {
            className: `num pnl ${t.pnl > 0n ? "up" : t.pnl < 0n ? "down" : ""}`,
            // what was credited back (margin + pnl); marginReturned is only the margin's share
            dataset: { value: t.pnl.toString(), returned: (t.totalReturn ?? 0n).toString() },
            title: `${formatUsdExact(t.pnl, { sign: true })} USD`,
          },
          formatUsd(t.pnl, { sign: true }),
        ),
      ),
    ),
  );
  byId("closed-empty").hidden = state.closed.length > 0;
}

// --- engine events ------------------------------------------------------------------------------

function onEvent(event, id) {
  if (!state.user || event.email !== state.user.email) return;
  if (id && state.seenEvents.has(id)) return;
  if (id) {
    state.seenEvents.add(id);
    if (state.seenEvents.size > 1000) state.seenEvents.delete(state.seenEvents.values().next().value);
  }
  const type = event.eventType;
  const asset = (event.asset || "").replace("_", "/");
  const side = event.direction === "SHORT" ? "short" : "long";
  const ev = tradeFrom({ ...event, openedAt: event.timestamp, closedAt: event.timestamp });
  if (type === "TRADE_OPENED") {
    if (!state.open.has(event.tradeId)) {
      state.open.set(event.tradeId, {
        tradeId: ev.tradeId, asset: ev.asset, direction: ev.direction, margin: ev.margin,
        leverage: ev.leverage, entryPrice: ev.entryPrice, stopLossPrice: null,
        takeProfitPrice: null, liquidationPrice: null, openedAt: ev.openedAt,
      });
      renderOpen();
    }
    logEvent("open", `Opened ${side} ${asset} at ${price(event.asset, ev.entryPrice)}, ` +
      `margin ${formatUsd(ev.margin)} USD, ${formatLeverage(ev.leverage)}.`, event);
  } else if (type.startsWith("ORDER_")) {
    const kind = (event.orderType || "").toLowerCase();
    const at = price(event.asset, fromWire(event.orderPrice, Number(event.priceDecimals)));
    const what = {
      ORDER_PLACED: `Placed ${side} ${kind} order ${asset} at ${at}; ${formatUsd(ev.margin)} USD reserved.`,
      ORDER_FILLED: `Filled: ${side} ${kind} order ${asset} at ${price(event.asset, ev.entryPrice)}.`,
      ORDER_CANCELLED: `Cancelled ${side} ${kind} order ${asset} at ${at}; ${formatUsd(ev.margin)} USD released.`,
      ORDER_EXPIRED: `Expired: ${side} ${kind} order ${asset} at ${at}; ${formatUsd(ev.margin)} USD released.`,
      ORDER_REJECTED: `Rejected at fill: ${side} ${kind} order ${asset} (${event.reason}); ` +
        `${formatUsd(ev.margin)} USD released.`,
    }[type];
    if (what) logEvent(type === "ORDER_REJECTED" ? "warn" : "info", what, event);
  } else if (type === "TRADE_MODIFIED") {
    const parts = [];
    if (ev.stopLossPrice) parts.push(`stop-loss ${price(event.asset, ev.stopLossPrice)}`);
    if (ev.takeProfitPrice) parts.push(`take-profit ${price(event.asset, ev.takeProfitPrice)}`);
    if (ev.trailingDistance) parts.push(`trailing ${price(event.asset, ev.trailingDistance)}`);
    logEvent("info", `Amended ${side} ${asset}: ${parts.length ? parts.join(", ") : "no exits"}.`, event);
  } else if (type === "TRADE_CLOSED" && event.closedMargin) {
    const part = {
      tradeId: ev.tradeId, asset: ev.asset, direction: ev.direction, margin: ev.closedMargin,
      leverage: ev.leverage, entryPrice: ev.entryPrice, exitPrice: ev.exitPrice, pnl: ev.pnl,
      marginReturned: ev.marginReturned, totalReturn: ev.totalReturn, reason: type,
      remainingMargin: ev.remainingMargin, closedAt: ev.closedAt,
    };
    state.closed = mergeClosed([part], state.closed);
    renderClosed();
    logEvent("close", `Closed ${formatUsd(ev.closedMargin)} USD of ${side} ${asset} at ` +
      `${price(event.asset, ev.exitPrice)}; PnL ${formatUsd(ev.pnl, { sign: true })} USD, ` +
      `${formatUsd(ev.remainingMargin)} USD still open.`, event);
  } else if (REASONS[type]) {
    const closed = {
      tradeId: ev.tradeId, asset: ev.asset, direction: ev.direction, margin: ev.margin,
      leverage: ev.leverage, entryPrice: ev.entryPrice, exitPrice: ev.exitPrice, pnl: ev.pnl,
      marginReturned: ev.marginReturned, totalReturn: ev.totalReturn, reason: type,
      closedAt: ev.closedAt,
    };
    const exit = price(event.asset, closed.exitPrice);
    const what = {
      TRADE_CLOSED: `Closed ${side} ${asset} at ${exit}`,
      TRADE_STOP_LOSS: `Stop-loss hit: ${side} ${asset} closed at ${exit}`,
      TRADE_TAKE_PROFIT: `Take-profit hit: ${side} ${asset} closed at ${exit}`,
      TRADE_LIQUIDATED: `Liquidated: ${side} ${asset} at ${exit}`,
      TRADE_TRAILING_STOP: `Trailing stop hit: ${side} ${asset} closed at ${exit}`,
      TRADE_FORCE_CLOSED: `Closed by the operator: ${side} ${asset} at ${exit}`,
    }[type];
    logEvent(type === "TRADE_CLOSED" ? "close" : type.toLowerCase().replace("trade_", ""),
      `${what}; PnL ${formatUsd(closed.pnl, { sign: true })} USD, balance ${formatUsd(ev.balance)} USD.`,
      event);
    applyClosed(closed, ev.balance);
    return;
  } else if (type === "ACCOUNT_CREATED") {
    logEvent("info", `Account opened with ${formatUsd(ev.balance)} USD.`, event);
  }
  refresh();
}

function logEvent(kind, text, event = null) {
  const list = byId("events");
  const item = el(
    "li",
    { className: `event ${kind}`, dataset: { type: event ? event.eventType : kind } },
    el("time", {}, dateTime(event && event.timestamp ? event.timestamp : Date.now())),
    el("span", {}, text),
  );
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function renderFeedStatus(status) {
  const node = byId("feed-status");
  node.dataset.state = status;
  node.querySelector(".label").textContent =
    { live: "live", connecting: "connecting…", offline: "reconnecting…" }[status] || status;
}

// --- start --------------------------------------------------------------------------------------

async function main() {
  byId("signin-form").addEventListener("submit", requestLink);
  byId("signout").addEventListener("click", signOut);
  const charted = chart.init();
  for (const button of byId("chart-intervals").querySelectorAll("button")) {
    button.addEventListener("click", () => {
      for (const b of byId("chart-intervals").querySelectorAll("button")) {
        b.setAttribute("aria-pressed", String(b === button));
      }
      chart.setInterval(button.dataset.interval);
    });
  }
  await loadAssets();
  await charted;
  renderMarkets();
  const first = [...state.assets.keys()][0];
  if (first) select(first);
  await loadPrices();
  loadTickers();
  await checkSession();
  if (new URLSearchParams(location.search).get("signin") === "invalid") {
    showSigninStatus("That sign-in link is invalid, already used or expired: ask for a new one.", "warn");
    history.replaceState(null, "", "/");
  }
  feed.start();
}

main();
