// The live feed: one WebSocket to /api/v1/ws carrying public price ticks and the signed-in
// user's own engine events. It reconnects with backoff and resumes from the last event id, so
// an event that happened while the socket was down is delivered on reconnect, never twice.

import { parseJson } from "./api.js";

const PING_EVERY_MS = 20000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const CLOSE_UNAUTHORIZED = 4401;

export class Feed {
  /**
   * handlers: onOpen(user), onPrices(prices, id), onEvent(event, id), onResync(),
   * onStatus("connecting" | "live" | "offline"), onUnauthorized().
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.lastEventId = null;
    this.backoff = BACKOFF_MIN_MS;
    this.timer = null;
    this.pinger = null;
    this.stopped = true;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Close and reconnect now (after sign-in or sign-out the session cookie changed). */
  restart({ forgetEvents = false } = {}) {
    if (forgetEvents) this.lastEventId = null;
    this.stop();
    this.start();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
      this.socket = null;
    }
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const resume = this.lastEventId ? `?lastEventId=${encodeURIComponent(this.lastEventId)}` : "";
    return `${scheme}//${location.host}/api/v1/ws${resume}`;
  }

  connect() {
    this.handlers.onStatus?.("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (msg) => this.receive(msg.data);
    socket.onclose = (ev) => {
      clearInterval(this.pinger);
      this.socket = null;
      this.handlers.onStatus?.("offline");
      if (ev.code === CLOSE_UNAUTHORIZED) {
        this.lastEventId = null;
        this.handlers.onUnauthorized?.();
      }
      if (!this.stopped) {
        this.timer = setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      }
    };
    this.pinger = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
    }, PING_EVERY_MS);
  }

  receive(text) {
    let msg;
    try {
      msg = parseJson(text);
    } catch (err) {
      return; // not ours to crash on: skip anything that is not JSON
    }
    switch (msg && msg.type) {
      case "hello":
        this.backoff = BACKOFF_MIN_MS;
        this.handlers.onStatus?.("live");
        this.handlers.onOpen?.(msg.user || null);
        break;
      case "prices":
        if (Array.isArray(msg.prices)) this.handlers.onPrices?.(msg.prices, msg.id);
        break;
      case "event":
        if (msg.event && typeof msg.event === "object") {
          if (typeof msg.id === "string") this.lastEventId = msg.id;
          this.handlers.onEvent?.(msg.event, msg.id);
        }
        break;
      case "resync":
        this.handlers.onResync?.();
        break;
      case "ticker":
        if (Array.isArray(msg.tickers)) this.handlers.onTicker?.(msg.tickers);
        break;
      default:
        break;
    }
  }
}
