// osim replay viewer: the one script. Pages work without it; it only wires the "compare two picked
// episodes" button of the episode list (enabled for exactly two episodes of one scenario).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-picked");
  const picks = Array.from(form.querySelectorAll("input.pick"));
  const update = () => {
    const picked = picks.filter((p) => p.checked);
    const ready = picked.length === 2 && picked[0].dataset.scenario === picked[1].dataset.scenario;
    button.disabled = !ready;
    button.title = ready ? "" : "pick two episodes of one scenario";
    if (ready) {
      document.getElementById("c-run-a").value = picked[0].dataset.run;
      document.getElementById("c-a").value = picked[0].value;
      document.getElementById("c-run-b").value = picked[1].dataset.run;
      document.getElementById("c-b").value = picked[1].value;
    }
  };
  picks.forEach((p) => p.addEventListener("change", update));
  update();
});
