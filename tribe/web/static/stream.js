// tribe: the stream page, live. New posts announced without a reload ("N new posts —
// show"), counts that follow every in-place action, undo of a skip, Ctrl+Enter and Esc in
// a text. Uses app.js's helpers (focusItem, adjustCount, updateCounter). No build step.
"use strict";

(() => {
  const list = document.querySelector("[data-stream]");
  if (!list) return;

  const POLL = (Number(list.dataset.pollSeconds) || 20) * 1000;
  const HIDDEN_MOST = 10 * 60 * 1000; // a hidden tab asks less and less often, down to this
  const MOST_SHOWN = Number(list.dataset.most) || 100;
  const waiting = document.querySelector("[data-waiting]");
  const approveAll = document.querySelector("form[data-approve-all]");
  const bar = document.querySelector("[data-new-bar]");
  let after = Number(list.dataset.after) || 0;
  let delay = POLL;
  let timer = null;
  let stopped = false;

  const inplaceHeaders = () => ({
    "X-Tribe-Inplace": "1",
    "X-CSRF-Token": document.body.dataset.csrf,
  });

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function pending() {
    // Items shown that still wait for a decision (a decided one has lost its form).
    return [...list.querySelectorAll("article.item")].filter((item) =>
      item.querySelector("form.decide"),
    );
  }

  // --- counts: the heading and "Approve all N shown" follow what the page shows -----------

  function syncCounts() {
    const shown = pending();
    if (waiting) {
      const elsewhere = Number(waiting.dataset.elsewhere) || 0; // on other pages
      waiting.textContent = String(elsewhere + shown.length);
    }
    if (approveAll) {
      const ids = shown.slice(0, MOST_SHOWN).map((item) => item.dataset.item);
      approveAll.querySelectorAll("input[name=item_ids]").forEach((input) => input.remove());
      ids.forEach((id) => {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "item_ids";
        input.value = id;
        approveAll.append(input);
      });
      const button = approveAll.querySelector("button");
      button.textContent = `Approve all ${ids.length} shown`;
      button.dataset.confirm = `Approve all ${plural(ids.length, "post")} shown, each with the text shown?`;
      approveAll.hidden = ids.length === 0;
    }
    const empty = list.querySelector("[data-empty]");
    if (empty) empty.hidden = list.querySelector("article.item") !== null;
  }

  // decideInPlace (app.js) swaps an item's form for its decision; this script adds and
  // replaces whole items. Either way the counts are read again from the page.
  new MutationObserver((records) => {
    if (records.some((r) => r.target === list || r.target.matches?.("article.item"))) {
      syncCounts();
    }
  }).observe(list, { childList: true, subtree: true });

  function prepare(root) {
    root.querySelectorAll("textarea[data-max]").forEach(updateCounter);
  }

  // --- new posts: a light poll, slower while the tab is hidden ----------------------------

  function showBar(count) {
    if (!bar) return;
    bar.hidden = count === 0;
    bar.querySelector("[data-new-text]").textContent = `${plural(count, "new post")}`;
  }

  function schedule() {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(poll, delay);
  }

  async function poll() {
    try {
      const response = await fetch(`/stream/new?after=${after}`, {
        headers: inplaceHeaders(),
        credentials: "same-origin",
      });
      if (response.status === 401) {
        stopped = true; // signed out: a reload asks to sign in again
        return;
      }
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      showBar((await response.json()).count);
      delay = document.visibilityState === "hidden" ? Math.min(delay * 2, HIDDEN_MOST) : POLL;
    } catch {
      delay = Math.min(delay * 2, HIDDEN_MOST); // offline or restarting: ask less often
    }
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      delay = POLL;
      poll(); // back on the page: ask at once
    }
  });

  async function showNew(button) {
    button.disabled = true;
    try {
      const response = await fetch(`/stream/items?after=${after}`, {
        headers: inplaceHeaders(),
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(await response.text());
      const items = fragment(await response.text());
      const arrived = [...items.querySelectorAll("article.item")];
      arrived.forEach((item) => {
        after = Math.max(after, Number(item.dataset.item));
        document.getElementById(item.id)?.remove(); // shown already (put back by an undo)
      });
      prepare(items);
      // Above what is there: nothing the member is editing moves out from under them.
      list.prepend(items);
      adjustCount("stream", arrived.length);
      bar.hidden = true;
      poll(); // more than a page may have come
    } catch (error) {
      bar.querySelector("[data-new-text]").textContent = error.message;
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-show-new]");
    if (button) showNew(button);
  });

  // --- undo a skip: from the item itself, or from "Skipped recently" ----------------------

  async function undo(form) {
    const button = form.querySelector("button");
    const problem = form.closest(".decided, li")?.querySelector(".problem");
    button.disabled = true;
    try {
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: new FormData(form),
        headers: inplaceHeaders(),
        credentials: "same-origin",
      });
      const text = await response.text();
      if (!response.ok) throw new Error(text || `the server answered ${response.status}`);
      const added = Number(response.headers.get("X-Tribe-Stream") || 0);
      const content = fragment(text);
      const item = content.querySelector("article.item");
      const line = form.closest("[data-skipped] li");
      if (item) {
        prepare(content);
        const there = document.getElementById(item.id);
        if (there) there.replaceWith(item);
        else list.prepend(item);
        focusItem(item);
      }
      if (line) {
        const section = line.closest("[data-skipped]");
        line.remove();
        if (!section.querySelector("li")) section.hidden = true;
      }
      adjustCount("stream", added);
    } catch (error) {
      button.disabled = false;
      if (problem) {
        problem.textContent = error.message;
        problem.hidden = false;
      }
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("form[data-undo]") && window.fetch) {
      event.preventDefault();
      undo(form);
    }
  });

  // --- keys in a text: Ctrl+Enter (Cmd+Enter) approves, Esc goes back to j/k ------------

  document.addEventListener("keydown", (event) => {
    const area = event.target.closest?.("form.decide textarea");
    if (!area) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      const form = area.closest("form");
      form.requestSubmit(form.querySelector("button[data-action='approve']"));
    } else if (event.key === "Escape") {
      event.preventDefault();
      focusItem(area.closest("article.item")); // app.js leaves the text; j/k go on from here
    }
  });

  syncCounts();
  schedule();
})();
