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
  AmountError, USD_DECIMALS, formatLeverage, formatPrice, formatUsd, fromWire, pnl, rescale,
} from "./money.js";
import { Ticket } from "./ticket.js";

const CLOSED_LIMIT = 50;
const MAX_EVENTS = 100;
const REASONS = {
  TRADE_CLOSED: "Closed",
  TRADE_STOP_LOSS: "Stop-loss",
  TRADE_TAKE_PROFIT: "Take-profit",
  TRADE_LIQUIDATED: "Liquidated",
};

const state = {
  assets: new Map(), // symbol -> {decimals}
  quotes: new Map(), // symbol -> {bid, ask, timestamp} in the asset's decimals (BigInt)
  user: null,
  open: new Map(), // tradeId -> trade (engine view, numbers as BigInt)
  closed: [],
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
  onUnauthorized: () => signedOut("Your session ended; sign in again."),
  onAssetChange: (symbol) => select(symbol),
});
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
const USD_FIELDS = ["margin", "pnl", "marginReturned", "totalReturn", "usdBalance", "balance"];
const PRICE_FIELDS = [
  "entryPrice", "stopLossPrice", "takeProfitPrice", "liquidationPrice", "exitPrice", "closePrice",
];

/** USD in human units (a number's text or a decimal string) as scaled BigInt units. */
function usd(value) {
  return fromWire(value, USD_DECIMALS);
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
    lines.push({ price: t.entryPrice, title: `${side} ${formatLeverage(t.leverage)}`, kind: "entry" });
    if (t.stopLossPrice) lines.push({ price: t.stopLossPrice, title: "SL", kind: "sl" });
    if (t.takeProfitPrice) lines.push({ price: t.takeProfitPrice, title: "TP", kind: "tp" });
    if (t.liquidationPrice && t.liquidationPrice > 0n) {
      lines.push({ price: t.liquidationPrice, title: "Liq.", kind: "liq" });
    }
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
        const [balance, open, closed] = await Promise.all([
          api("GET", "/api/v1/account/balance/usd"),
          api("GET", "/api/v1/trades/open"),
          api("GET", `/api/v1/trades/closed?limit=${CLOSED_LIMIT}`),
        ]);
        if (!state.user) return;
        state.balance = { free: usd(balance.usdBalance), locked: usd(balance.lockedUsd) };
        state.open = new Map(open.trades.map((t) => [t.tradeId, tradeFrom(t)]));
        state.closed = closed.trades.map(tradeFrom);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          signedOut("Your session ended; sign in again.");
          return;
        }
        logEvent("warn", `Could not refresh the account: ${err.message}`);
      }
      renderOpen();
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
  free.textContent = formatUsd(b.free);
  free.dataset.value = b.free.toString();
  byId("account-free").textContent = formatUsd(b.free);
  byId("account-free").dataset.value = b.free.toString();
  byId("account-locked").textContent = formatUsd(b.locked);
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
  const equity = state.balance.free + returned;
  byId("account-equity").textContent = formatUsd(equity);
  byId("top-equity").textContent = formatUsd(equity) + (complete ? "" : " …");
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
  body.replaceChildren(...trades.map(openRow));
  byId("open-empty").hidden = trades.length > 0;
  byId("open-count").textContent = String(trades.length);
  renderMarks(null);
  renderChartLines();
}

function openRow(t) {
  const closeButton = el("button", { type: "button", className: "close-trade" }, "Close");
  closeButton.addEventListener("click", () => closeTrade(t.tradeId, closeButton));
  const long = t.direction === "LONG";
  return el(
    "tr",
    { dataset: { tradeId: t.tradeId, asset: t.asset } },
    el("td", { className: "sym" }, t.asset.replace("_", "/")),
    el("td", { className: long ? "side up" : "side down" }, long ? "Long" : "Short"),
    el("td", { className: "num" }, formatUsd(t.margin)),
    el("td", { className: "num" }, formatLeverage(t.leverage)),
    el("td", { className: "num entry", dataset: { value: t.entryPrice.toString() } }, price(t.asset, t.entryPrice)),
    el("td", { className: "num mark" }, "—"),
    el("td", { className: "num sl" }, t.stopLossPrice ? price(t.asset, t.stopLossPrice) : "—"),
    el("td", { className: "num tp" }, t.takeProfitPrice ? price(t.asset, t.takeProfitPrice) : "—"),
    el(
      "td",
      { className: "num liq" },
      t.liquidationPrice && t.liquidationPrice > 0n ? price(t.asset, t.liquidationPrice) : "—",
    ),
    el("td", { className: "num pnl" }, "—"),
    el("td", { className: "act" }, closeButton, el("span", { className: "row-error", role: "alert" })),
  );
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
  if (!state.closed.some((c) => c.tradeId === closed.tradeId)) {
    state.closed.unshift(closed);
    state.closed.length = Math.min(state.closed.length, CLOSED_LIMIT);
  }
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
        { dataset: { tradeId: t.tradeId, reason: t.reason || "" } },
        el("td", { className: "when" }, dateTime(t.closedAt)),
        el("td", { className: "sym" }, t.asset.replace("_", "/")),
        el("td", { className: t.direction === "LONG" ? "side up" : "side down" },
          t.direction === "LONG" ? "Long" : "Short"),
        el("td", { className: "num" }, formatUsd(t.margin)),
        el("td", { className: "num" }, formatLeverage(t.leverage)),
        el("td", { className: "num" }, price(t.asset, t.entryPrice)),
        el("td", { className: "num exit" }, price(t.asset, t.exitPrice)),
        el("td", { className: "reason" }, REASONS[t.reason] || t.reason || ""),
        el(
          "td",
          {
            className: `num pnl ${t.pnl > 0n ? "up" : t.pnl < 0n ? "down" : ""}`,
            // what was credited back (margin + pnl); marginReturned is only the margin's share
            dataset: { value: t.pnl.toString(), returned: (t.totalReturn ?? 0n).toString() },
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
