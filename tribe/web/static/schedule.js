// tribe: the Schedule form picks the kind of schedule the member is typing, and the
// Templates page's text areas grow with their text. No build step.
"use strict";

document.addEventListener("input", (event) => {
  const field = event.target;
  const mode = field.dataset?.mode;
  if (mode) {
    // Typing times means "at fixed times"; typing a gap or hours means "spaced out".
    const radio = field.closest("form")?.querySelector(`input[type="radio"][name="mode"][value="${mode}"]`);
    if (radio && !radio.checked) radio.checked = true;
  }
  if (field.matches("textarea[data-grow]")) grow(field);
});

function grow(area) {
  // The whole text in view: as tall as its content, never a box that scrolls inside.
  area.style.height = "auto";
  area.style.height = `${area.scrollHeight + 2}px`;
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("textarea[data-grow]").forEach(grow);
});
