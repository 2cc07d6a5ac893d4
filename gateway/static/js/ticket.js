// The order ticket: asset, long/short, Market / Limit / Stop (a pending order at a price),
// margin, leverage (1x-100x), optional stop-loss, take-profit and trailing stop distance. Before sending it shows the entry (ask for a long, bid for a short), the position
// size and the liquidation price, computed exactly as the engine will; after sending it shows
// the engine's refusal next to the field it concerns.

import { ApiError, api, newIdempotencyKey } from "./api.js";
import { byId } from "./dom.js";
import {
  AmountError,
  LEVERAGE_DECIMALS,
  USD_DECIMALS,
  formatLeverage,
  formatPrice,
  fromWire,
  liquidationLevel,
  notional,
  parseDecimal,
  wireAmount,
} from "./money.js";

const MIN_LEVERAGE = 10n; // tenths: 1x
const MAX_LEVERAGE = 1000n; // 100x
const TIMEOUT_RETRIES = 3;
const LABELS = {
  stopLossPrice: "stop-loss",
  takeProfitPrice: "take-profit",
  expectedPrice: "expected price",
  trailingDistance: "trailing distance",
  price: "order price",
};
export const FIELDS = [
  "asset", "direction", "price", "margin", "leverage", "stopLossPrice", "takeProfitPrice",
  "trailingDistance",
];
// Where a pending order must wait (else it would fill at once and the engine refuses it).
const PRICE_HINTS = {
  "LONG LIMIT": "below the ask", "LONG STOP": "above the ask",
  "SHORT LIMIT": "above the bid", "SHORT STOP": "below the bid",
};

/** A server message in the ticket's words: "stopLossPrice must be ..." -> "stop-loss must be ...". */
function plain(message) {
  return message.replace(
    /\b(stopLossPrice|takeProfitPrice|expectedPrice|trailingDistance)\b/g, (name) => LABELS[name],
  );
}

export class Ticket {
  /**
   * market: {assets: Map(symbol -> {decimals}), quote(symbol) -> {bid, ask} | null}
   * onOpened(tradeView): called with the engine's view of the new trade.
   * onUnauthorized(): the session is gone.
   */
  constructor({ market, onOpened, onPlaced, onUnauthorized, onAssetChange }) {
    this.market = market;
    this.onOpened = onOpened;
    this.onPlaced = onPlaced;
    this.orderType = "MARKET";
    this.onUnauthorized = onUnauthorized;
    this.onAssetChange = onAssetChange;
    this.direction = "LONG";
    this.sending = false;
    this.form = byId("ticket-form");
    this.asset = byId("ticket-asset");
    this.margin = byId("ticket-margin");
    this.leverage = byId("ticket-leverage");
    this.range = byId("ticket-leverage-range");
    this.stopLoss = byId("ticket-sl");
    this.takeProfit = byId("ticket-tp");
    this.price = byId("ticket-price");
    this.trailing = byId("ticket-trail");
    this.submit = byId("ticket-submit");
    this.status = byId("ticket-status");
    this.inputs = {
      margin: this.margin,
      leverage: this.leverage,
      stopLossPrice: this.stopLoss,
      takeProfitPrice: this.takeProfit,
      price: this.price,
      trailingDistance: this.trailing,
    };
    this.bind();
  }

  bind() {
    for (const button of this.form.querySelectorAll("[data-direction]")) {
      button.addEventListener("click", () => this.setDirection(button.dataset.direction));
    }
    for (const button of this.form.querySelectorAll("[data-order-type]")) {
      button.addEventListener("click", () => this.setOrderType(button.dataset.orderType));
    }
    this.range.addEventListener("input", () => {
      this.leverage.value = this.range.value;
      this.changed("leverage");
    });
    this.leverage.addEventListener("input", () => {
      const n = Number(this.leverage.value);
      if (Number.isFinite(n)) this.range.value = String(Math.min(100, Math.max(1, Math.round(n))));
      this.changed("leverage");
    });
    for (const [name, input] of Object.entries(this.inputs)) {
      if (name !== "leverage") input.addEventListener("input", () => this.changed(name));
    }
    this.asset.addEventListener("change", () => {
      this.clearError("asset");
      this.onAssetChange?.(this.asset.value);
      this.preview();
    });
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.send();
    });
  }

  /** Fill the asset list (keeps the current choice when it still exists). */
  setAssets(symbols) {
    const current = this.asset.value;
    this.asset.replaceChildren(
      ...symbols.map((s) => {
        const option = document.createElement("option");
        option.value = s;
        option.textContent = s.replace("_", "/");
        return option;
      }),
    );
    if (symbols.includes(current)) this.asset.value = current;
    this.preview();
  }

  selectAsset(symbol) {
    if (this.asset.value !== symbol) {
      this.asset.value = symbol;
      this.clearError("asset");
      this.preview();
    }
  }

  setDirection(direction) {
    this.direction = direction === "SHORT" ? "SHORT" : "LONG";
    for (const button of this.form.querySelectorAll("[data-direction]")) {
      button.setAttribute("aria-checked", String(button.dataset.direction === this.direction));
    }
    const long = this.direction === "LONG";
    const pending = this.orderType !== "MARKET";
    const kind = this.orderType === "LIMIT" ? "limit" : "stop";
    this.submit.textContent = pending
      ? `Place ${long ? "long" : "short"} ${kind} order` : long ? "Open long" : "Open short";
    byId("ticket-price-hint").textContent = pending
      ? PRICE_HINTS[`${this.direction} ${this.orderType}`] : "";
    this.submit.classList.toggle("long", long);
    this.submit.classList.toggle("short", !long);
    this.clearError("direction");
    this.clearError("stopLossPrice");
    this.clearError("takeProfitPrice");
    this.preview();
  }

  setOrderType(kind) {
    this.orderType = ["LIMIT", "STOP"].includes(kind) ? kind : "MARKET";
    for (const button of this.form.querySelectorAll("[data-order-type]")) {
      button.setAttribute("aria-checked", String(button.dataset.orderType === this.orderType));
    }
    byId("ticket-price-field").hidden = this.orderType === "MARKET";
    this.clearError("price");
    this.setDirection(this.direction); // the button's words and the hint follow the type
  }

  changed(name) {
    this.clearError(name);
    this.clearError("_form");
    this.status.hidden = true;
    this.preview(name);
  }

  // --- reading the form ----------------------------------------------------------------------

  decimals() {
    const info = this.market.assets.get(this.asset.value);
    return info ? info.decimals : null;
  }

  /** The form as exact integers: {values, errors}; empty optional fields are left out. */
  read() {
    const errors = {};
    const values = { asset: this.asset.value, direction: this.direction };
    const decimals = this.decimals();
    if (decimals === null) errors.asset = "choose an asset";
    const amount = (name, places, label) => {
      const text = this.inputs[name].value.trim();
      if (!text) return null;
      try {
        const v = parseDecimal(text, places);
        if (v <= 0n) {
          errors[name] = `${label} must be greater than 0`;
          return null;
        }
        return v;
      } catch (err) {
        if (!(err instanceof AmountError)) throw err;
        errors[name] = `${label}: ${err.message}`;
        return null;
      }
    };
    values.margin = amount("margin", USD_DECIMALS, "margin");
    if (values.margin === null && !errors.margin) errors.margin = "enter a margin in USD";
    values.leverage = amount("leverage", LEVERAGE_DECIMALS, "leverage");
    if (values.leverage === null && !errors.leverage) errors.leverage = "enter a leverage";
    if (values.leverage !== null && (values.leverage < MIN_LEVERAGE || values.leverage > MAX_LEVERAGE)) {
      errors.leverage = "leverage must be from 1x to 100x";
      values.leverage = null;
    }
    if (decimals !== null) {
      values.stopLossPrice = amount("stopLossPrice", decimals, "stop-loss");
      values.takeProfitPrice = amount("takeProfitPrice", decimals, "take-profit");
      values.trailingDistance = amount("trailingDistance", decimals, "trailing distance");
      values.price = this.orderType === "MARKET" ? null : amount("price", decimals, "order price");
      if (this.orderType !== "MARKET" && values.price === null && !errors.price) {
        errors.price = "enter the order's price";
      }
    }
    return { values, errors };
  }

  // --- preview -------------------------------------------------------------------------------

  /** Recompute entry, size and liquidation price (on input and on every tick of the asset). */
  preview(editing = null) {
    const entryNode = byId("preview-entry");
    const sizeNode = byId("preview-size");
    const liqNode = byId("preview-liq");
    const long = this.direction === "LONG";
    byId("preview-side").textContent = this.orderType !== "MARKET" ? "(order price)"
      : long ? "(ask)" : "(bid)";
    const { values, errors } = this.read();
    // Format problems show while typing, but "required" ones only once the user sends.
    if (editing && errors[editing] && this.inputs[editing].value.trim()) {
      this.showError(editing, errors[editing]);
    }
    const quote = this.market.quote(values.asset);
    const decimals = this.decimals();
    const entry = this.orderType !== "MARKET" && values.price
      ? values.price : quote ? (long ? quote.ask : quote.bid) : null;
    entryNode.textContent = entry !== null ? formatPrice(entry, decimals) : "—";
    entryNode.dataset.value = entry !== null ? entry.toString() : "";
    const ok = values.margin !== null && values.leverage !== null;
    sizeNode.textContent = ok ? `${notional(values.margin, values.leverage)} USD` : "—";
    let liq = null;
    if (ok && entry !== null) liq = liquidationLevel(values.margin, values.leverage, entry, long);
    if (liq === null) {
      liqNode.textContent = "—";
      liqNode.dataset.value = "";
    } else if (long && liq <= 0n) {
      liqNode.textContent = "none (the price cannot fall far enough)";
      liqNode.dataset.value = liq.toString();
    } else {
      liqNode.textContent = formatPrice(liq, decimals);
      liqNode.dataset.value = liq.toString();
    }
  }

  // --- errors --------------------------------------------------------------------------------

  errorNode(name) {
    const key = FIELDS.includes(name) ? name : "_form";
    return this.form.querySelector(`[data-error-for="${key}"]`);
  }

  showError(name, message) {
    const node = this.errorNode(name);
    node.textContent = message;
    const input = this.inputs[name] || (name === "asset" ? this.asset : null);
    if (input) input.setAttribute("aria-invalid", "true");
  }

  clearError(name) {
    const node = this.errorNode(name);
    if (node) node.textContent = "";
    const input = this.inputs[name] || (name === "asset" ? this.asset : null);
    if (input) input.removeAttribute("aria-invalid");
  }

  clearErrors() {
    for (const name of [...FIELDS, "_form"]) this.clearError(name);
  }

  // --- sending -------------------------------------------------------------------------------

  async send() {
    if (this.sending) return;
    this.clearErrors();
    this.status.hidden = true;
    const { values, errors } = this.read();
    if (Object.keys(errors).length) {
      for (const [name, message] of Object.entries(errors)) this.showError(name, message);
      return;
    }
    const decimals = this.decimals();
    const body = {
      asset: values.asset,
      direction: values.direction,
      margin: wireAmount(values.margin, USD_DECIMALS),
      leverage: Number(values.leverage),
    };
    if (values.stopLossPrice !== null) body.stopLossPrice = wireAmount(values.stopLossPrice, decimals);
    if (values.takeProfitPrice !== null) body.takeProfitPrice = wireAmount(values.takeProfitPrice, decimals);
    if (values.trailingDistance !== null) {
      body.trailingDistance = wireAmount(values.trailingDistance, decimals);
    }
    const pending = this.orderType !== "MARKET";
    if (pending) {
      body.type = this.orderType;
      body.price = wireAmount(values.price, decimals);
    }
    const path = pending ? "/api/v1/orders" : "/api/v1/trade/create";
    const key = newIdempotencyKey(); // one key for this order and all its retries
    this.sending = true;
    this.submit.disabled = true;
    this.submit.setAttribute("aria-busy", "true");
    try {
      let trade = null;
      for (let attempt = 0; ; attempt += 1) {
        try {
          trade = await api("POST", path, body, { idempotencyKey: key });
          break;
        } catch (err) {
          const retriable = err instanceof ApiError && (err.status === 504 || err.status === 0);
          if (!retriable || attempt >= TIMEOUT_RETRIES) throw err;
          this.note("The exchange is slow to answer; asking again (the order is placed once).");
          await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
        }
      }
      const side = values.direction === "LONG" ? "long" : "short";
      this.stopLoss.value = "";
      this.takeProfit.value = "";
      this.trailing.value = "";
      if (pending) {
        this.note(
          `Placed ${side} ${this.orderType.toLowerCase()} order ${values.asset.replace("_", "/")} ` +
            `at ${formatPrice(values.price, decimals)}; margin reserved until it fills.`,
        );
        this.price.value = "";
        this.onPlaced?.(trade);
        return;
      }
      this.note(
        `Opened ${side} ${values.asset.replace("_", "/")} at ` +
          `${formatPrice(fromWire(trade.entryPrice, decimals), decimals)}, ` +
          `${formatLeverage(BigInt(trade.leverageTenths ?? values.leverage))}.`,
      );
      this.onOpened?.(trade);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) {
        this.onUnauthorized?.();
        return;
      }
      this.showError(err.field && FIELDS.includes(err.field) ? err.field : "_form", plain(err.message));
    } finally {
      this.sending = false;
      this.submit.disabled = false;
      this.submit.removeAttribute("aria-busy");
    }
  }

  note(text) {
    this.status.textContent = text;
    this.status.hidden = false;
  }
}
