// tribe: the Queue page's actions in place (move, send next, edit text, cancel). No build
// step. Without this script every form still works: it posts and the page comes back.
"use strict";

function setNavCount(name, value) {
  const badge = document.querySelector(`[data-count="${name}"]`);
  if (!badge || Number.isNaN(value)) return;
  badge.textContent = String(value);
  badge.hidden = value === 0;
}

function showProblem(section, message) {
  const problem = section.querySelector(".problem");
  if (!problem) return;
  section.querySelectorAll(".flash.done").forEach((done) => done.remove());  // an older news
  problem.textContent = message;
  problem.hidden = false;
  problem.scrollIntoView({ block: "nearest" });
}

function refocus(section, deliveryId, key) {
  // Keep the keyboard where it was: the same button of the same delivery when it is still
  // there and usable (after "up" to the top: its "down"), else the delivery, else the
  // account's part of the page.
  const row = section.querySelector(`[data-delivery="${deliveryId}"]`);
  const other = { up: "down", down: "up" }[key];
  const button = [key, other]
    .map((k) => k && row?.querySelector(`button[data-key="${k}"]`))
    .find((b) => b && !b.disabled);
  const target = button || row || section;
  if (target === section) section.setAttribute("tabindex", "-1");
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "nearest" });
}

async function actInPlace(form, submitter) {
  const section = form.closest("section.account-queue");
  const row = form.closest("[data-delivery]");
  const body = new FormData(form);
  form.querySelectorAll("button").forEach((button) => (button.disabled = true));
  try {
    const response = await fetch(form.getAttribute("action"), {
      method: "POST",
      body,
      headers: { "X-Tribe-Inplace": "1", "X-CSRF-Token": document.body.dataset.csrf },
      credentials: "same-origin",
    });
    const text = await response.text();
    if (!response.ok) throw new Error(text || `the server answered ${response.status}`);
    const holder = document.createElement("div");
    holder.innerHTML = text;
    const fresh = holder.querySelector("section.account-queue");
    if (!fresh) throw new Error("the server's answer was not the queue; reload the page");
    section.replaceWith(fresh);
    setNavCount("queue", Number(fresh.dataset.upcoming));
    // Let the length counters (app.js) measure the new text areas.
    fresh.querySelectorAll("textarea[data-max]").forEach((area) => {
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
    refocus(fresh, row?.dataset.delivery, submitter?.dataset.key || "");
  } catch (error) {
    showProblem(section, error.message);
    form.querySelectorAll("button").forEach((button) => (button.disabled = false));
  }
}

document.addEventListener("submit", (event) => {
  // A question the member declined (data-confirm, app.js) has prevented the submit.
  if (event.defaultPrevented || !window.fetch) return;
  const form = event.target;
  if (!form.matches("form[data-queue]")) return;
  event.preventDefault();
  actInPlace(form, event.submitter);
});
