// tribe: in-place approve/skip, live length counters, keyboard shortcuts. No build step.
"use strict";

const URL_PATTERN = /https?:\/\/\S+/g;

function textLength(text, network, urlCost) {
  // Close to each network's own count; the server checks the exact one on approval.
  let rest = text;
  let length = 0;
  if (urlCost) {
    const urls = text.match(URL_PATTERN) || [];
    length += urls.length * urlCost;
    rest = text.replace(URL_PATTERN, "");
  }
  if (network === "bluesky" && typeof Intl !== "undefined" && Intl.Segmenter) {
    return length + [...new Intl.Segmenter().segment(rest)].length;
  }
  return length + [...rest].length;
}

function updateCounter(area) {
  const output = area.parentElement.querySelector(".counter");
  if (!output) return;
  const max = Number(area.dataset.max);
  const used = textLength(area.value, area.dataset.network, Number(area.dataset.urlCost) || 0);
  output.textContent = `${used} / ${max}`;
  output.classList.toggle("over", used > max);
}

function items() {
  return [...document.querySelectorAll("article.item")];
}

function currentItem() {
  return document.querySelector("article.item.current") || items()[0];
}

function focusItem(item) {
  if (!item) return;
  items().forEach((other) => other.classList.remove("current"));
  item.classList.add("current");
  item.focus({ preventScroll: true });
  item.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function adjustCount(name, delta) {
  const badge = document.querySelector(`[data-count="${name}"]`);
  if (!badge) return;
  const value = Math.max(0, Number(badge.textContent) + delta);
  badge.textContent = String(value);
  badge.hidden = value === 0;
}

async function decideInPlace(form, submitter) {
  const item = form.closest("article.item");
  const problem = form.querySelector(".problem");
  const action = submitter?.getAttribute("formaction") || form.getAttribute("action");
  const body = new FormData(form);
  form.querySelectorAll("button").forEach((button) => (button.disabled = true));
  try {
    const response = await fetch(action, {
      method: "POST",
      body,
      headers: { "X-Tribe-Inplace": "1", "X-CSRF-Token": document.body.dataset.csrf },
      credentials: "same-origin",
    });
    const text = await response.text();
    if (!response.ok) throw new Error(text || `the server answered ${response.status}`);
    form.outerHTML = text;
    item.classList.add("decided-item");
    const decided = item.querySelector(".decided");
    adjustCount("stream", Number(decided?.dataset.stream || 0));
    adjustCount("queue", Number(decided?.dataset.queue || 0));
    const next = items().find((other) => other !== item && other.querySelector("form.decide"));
    if (next) focusItem(next);
  } catch (error) {
    problem.textContent = error.message;
    problem.hidden = false;
    form.querySelectorAll("button").forEach((button) => (button.disabled = false));
  }
}

document.addEventListener("submit", (event) => {
  const submitter = event.submitter;
  const question = submitter?.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  const form = event.target;
  if (form.matches("form[data-inplace]") && window.fetch) {
    event.preventDefault();
    decideInPlace(form, submitter);
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action='edit']");
  if (button) {
    const area = button.closest("form").querySelector("textarea");
    if (area) area.focus();
  }
  const copy = event.target.closest("input.copy");
  if (copy) copy.select();
});

const previewTimers = new WeakMap();

async function refreshPreview(area) {
  const output = area.closest("form").querySelector(".preview-text");
  const body = new FormData();
  body.set("template", area.value);
  try {
    const response = await fetch(area.dataset.preview, {
      method: "POST",
      body,
      headers: { "X-Tribe-Inplace": "1", "X-CSRF-Token": document.body.dataset.csrf },
      credentials: "same-origin",
    });
    output.textContent = await response.text();
    output.classList.toggle("bad", !response.ok);
  } catch (error) {
    output.textContent = error.message;
    output.classList.add("bad");
  }
}

document.addEventListener("input", (event) => {
  if (event.target.matches("textarea[data-max]")) updateCounter(event.target);
  if (event.target.matches("textarea[data-preview]")) {
    const area = event.target;
    clearTimeout(previewTimers.get(area));
    previewTimers.set(area, setTimeout(() => refreshPreview(area), 250));
  }
});

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const list = items();
  if (!list.length) return;
  const item = currentItem();
  const index = list.indexOf(item);
  const press = (action) => item?.querySelector(`button[data-action='${action}']`)?.click();
  switch (event.key) {
    case "j": focusItem(list[Math.min(index + 1, list.length - 1)]); break;
    case "k": focusItem(list[Math.max(index - 1, 0)]); break;
    case "a": press("approve"); break;
    case "s": press("skip"); break;
    case "e": event.preventDefault(); press("edit"); break;
    default: return;
  }
});

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("textarea[data-max]").forEach(updateCounter);
  document.querySelectorAll("input[data-guess-zone]").forEach((input) => {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && input.value === "UTC") input.value = zone;
  });
  const first = items()[0];
  if (first) first.classList.add("current");
});
