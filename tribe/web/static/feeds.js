// tribe: "Check now" on the Feeds and Operator pages, answered in place. No build step.
// Without this script the same forms post and come back with a flash message.
"use strict";

function showNote(note, text, kind) {
  if (!note) return;
  note.textContent = text;
  note.classList.remove("done", "error", "wait");
  note.classList.add(kind);
  note.hidden = false;
}

async function checkInPlace(form) {
  const button = form.querySelector("button");
  const card = form.dataset.check === "card" ? form.closest("section.feed") : null;
  const note = (card || form).querySelector("[data-check-note]");
  const hadFocus = document.activeElement === button;
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Checking…";
  let wait = 0;
  try {
    const response = await fetch(form.getAttribute("action"), {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Tribe-Inplace": "1", "X-CSRF-Token": document.body.dataset.csrf },
      credentials: "same-origin",
    });
    const text = await response.text();
    if (response.ok && card) {
      // The answer is the feed's card, with the outcome, next check and recent posts.
      const id = card.id;
      card.outerHTML = text;
      if (hadFocus) document.getElementById(id)?.querySelector("form[data-check] button")?.focus();
      return;
    }
    if (response.ok) {
      const failed = ["error", "gone"].includes(response.headers.get("X-Tribe-Outcome"));
      showNote(note, text, failed ? "error" : "done");
      return;
    }
    // Too soon, being polled, or the server busy: the answer says when to try again.
    if (response.status === 429) wait = Number(response.headers.get("Retry-After")) || 0;
    showNote(note, text || `the server answered ${response.status}`, wait ? "wait" : "error");
  } catch (error) {
    showNote(note, error.message, "error");
  } finally {
    button.textContent = label;
    if (wait > 0) {
      setTimeout(() => { button.disabled = false; }, wait * 1000);
    } else {
      button.disabled = false;
    }
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form[data-check]") || !window.fetch) return;
  event.preventDefault();
  checkInPlace(form);
});
