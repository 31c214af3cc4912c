// tribe: site-wide bits — copy buttons, and steps ticked in this browser. No build step.
"use strict";

async function copyFrom(button) {
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();  // no clipboard API (plain http elsewhere than localhost): select it
    document.execCommand("copy");
  }
  button.textContent = "Copied ✓";
  const step = button.dataset.copiedStep;
  const tribe = button.closest("[data-tribe]")?.dataset.tribe;
  if (step && tribe) {
    localStorage.setItem(`tribe.${step}.${tribe}`, "1");
    markSteps();
  }
}

function markSteps() {
  document.querySelectorAll(".step[data-step][data-tribe]").forEach((step) => {
    if (localStorage.getItem(`tribe.${step.dataset.step}.${step.dataset.tribe}`)) {
      step.classList.add("done");
      const tick = step.querySelector(".tick");
      if (tick) tick.textContent = "✓";
    }
  });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (button) copyFrom(button);
});

document.addEventListener("DOMContentLoaded", markSteps);
