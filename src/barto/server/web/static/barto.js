// barto's dashboard: the one live part, a running job's output, over Server-Sent Events.
// The pages work without it (they show what was stored when they were loaded).
"use strict";

function followOutput(pre) {
  const status = document.getElementById("live-status");
  const source = new EventSource(pre.dataset.live);
  const badge = document.querySelector("h1 .state");
  let open = null; // the span of a line whose rest is still to come
  source.addEventListener("line", (event) => {
    if (badge && (badge.textContent === "pending" || badge.textContent === "dispatched")) {
      badge.textContent = "running"; // its output is arriving: the worker runs it
      badge.className = "state s-running";
    }
    const line = JSON.parse(event.data);
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const span = open && open.className === line.stream ? open : document.createElement("span");
    span.className = line.stream;
    span.dataset.seq = line.seq;
    span.textContent += line.data + (line.continues ? "" : "\n");
    if (span !== open) pre.appendChild(span);
    open = line.continues ? span : null;
    if (stick) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    source.close();
    const run = JSON.parse(event.data);
    if (status) status.textContent = "ended: " + run.state;
    window.setTimeout(() => window.location.reload(), 300);
  });
  source.onerror = () => { if (status) status.textContent = "reconnecting…"; };
  source.onopen = () => { if (status) status.textContent = "live"; };
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.getElementById("output");
  if (pre && pre.dataset.live) followOutput(pre);
});
