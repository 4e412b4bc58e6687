// Polls an import's progress and reloads the page when its state changes.
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const start = document.querySelector("[data-status]").dataset.status;
  async function poll() {
    try {
      const answer = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
      const state = await answer.json();
      if (state.status !== start) { window.location.reload(); return; }
      if (state.done !== null) {
        if (state.percent !== null) bar.value = state.percent;
        let line = state.done + (state.total ? " / " + state.total : "");
        if (state.rate) line += " · " + Math.round(state.rate) + " " + box.dataset.rateLabel;
        if (state.seconds_left !== null) {
          line += " · " + box.dataset.leftLabel + " " + state.seconds_left + " " + box.dataset.secondsLabel;
        }
        text.textContent = line;
      }
    } catch (err) { /* the next poll tries again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
