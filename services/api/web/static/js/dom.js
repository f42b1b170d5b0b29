// Building the page: elements from data (text only, never HTML strings), shared widgets.

// Children may come in (nested) arrays; null and undefined stand for nothing.
const present = (children) =>
  children.flat(Infinity).filter((child) => child !== null && child !== undefined);

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...present(children));
  return element;
}

// A glyph and a word for each status: the colour only repeats what they say.
const STATUSES = {
  draft: ["✎", "Draft"],
  scheduled: ["◷", "Scheduled"],
  queued: ["⋯", "Queued"],
  sending: ["▶", "Sending"],
  throttled: ["⏳", "Throttled"],
  paused: ["❚❚", "Paused"],
  stopped: ["■", "Stopped"],
  completed: ["✓", "Completed"],
  failed: ["✗", "Failed"],
};

export function statusBadge(status) {
  const [glyph, label] = STATUSES[status] ?? ["?", status];
  return h(
    "span",
    { class: `badge status-${status}`, "data-status": status },
    h("span", { class: "glyph", "aria-hidden": "true", text: glyph }),
    label,
  );
}

// A bar with its number written beside it; paused and stopped bars are striped.
export function progressBar(label) {
  const fill = h("div", { class: "bar-fill" });
  const bar = h(
    "div",
    { class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": 0 },
    fill,
  );
  bar.set = (value, max, status = "") => {
    const percent = max > 0 ? Math.min(100, (100 * value) / max) : 0;
    fill.style.width = `${percent}%`;
    bar.setAttribute("aria-valuemax", String(max));
    bar.setAttribute("aria-valuenow", String(value));
    bar.setAttribute("aria-valuetext", `${value} of ${max}`);
    bar.dataset.status = status;
  };
  return bar;
}

const numberFormat = new Intl.NumberFormat();
export const count = (value) =>
  value === null || value === undefined ? "—" : numberFormat.format(value);

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function clear(element, ...children) {
  element.replaceChildren(...present(children));
  return element;
}

// A definition list from [term, value] pairs; a value may be an element.
export function facts(pairs, attributes = {}) {
  return h(
    "dl",
    { class: "facts", ...attributes },
    pairs.map(([term, value]) => [h("dt", { text: term }), h("dd", {}, value ?? "—")]),
  );
}

// "1 recipient", "2 recipients": a count with its noun.
export const counted = (value, noun) => `${count(value)} ${noun}${value === 1 ? "" : "s"}`;
