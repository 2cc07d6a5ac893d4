// Small DOM helpers. Text from the server only ever goes in through textContent (never
// innerHTML), so nothing it contains can run as markup.

/** The element with this id (throws when the page lacks it: a page bug, caught early). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page element #${id} is missing`);
  return node;
}

/** Create an element: el("td", {className: "num", dataset: {value: "1"}}, "text", child). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Set text and an optional class that says whether a signed amount is up, down or flat. */
export function setSigned(node, value, text) {
  node.textContent = text;
  node.classList.toggle("up", value > 0n);
  node.classList.toggle("down", value < 0n);
}

/** A local clock time for a millisecond timestamp. */
export function clock(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return "—";
  return new Date(n).toLocaleTimeString([], { hour12: false });
}

/** A local date and time (YYYY-MM-DD HH:MM:SS) for a millisecond timestamp. */
export function dateTime(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return "—";
  const d = new Date(n);
  const pad = (v) => String(v).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
