// Participant side of the fes-bench human study. Reads window.FES_STUDY (trials.js):
// {kit_id, questions: {criterion: text with {target}}, trials: [{id, criterion, target,
// source, images: [blinded id, blinded id]}]}. Images live at img/<blinded id>.png.
// Trial order and left/right sides are shuffled per participant with a PRNG seeded by
// kit id + participant id, so the same id always sees the same schedule. Answers are kept
// in localStorage (a reload resumes) and downloaded at the end as one JSON file.
"use strict";
(function () {
  const study = window.FES_STUDY;
  const byId = (id) => document.getElementById(id);
  const imageUrl = (blinded) => "img/" + blinded + ".png";

  function hashString(text) {
    // FNV-1a, 32 bit
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash >>> 0;
  }

  function mulberry32(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function schedule(participantId) {
    const random = mulberry32(hashString(study.kit_id + ":" + participantId));
    const order = study.trials.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order.map((index) => ({ index: index, swap: random() < 0.5 }));
  }

  let state = null;
  let plan = [];
  let shownAt = 0;
  let shownIso = "";

  const storageKey = (participantId) => "fes-study:" + study.kit_id + ":" + participantId;

  function save() {
    try {
      localStorage.setItem(storageKey(state.participant_id), JSON.stringify(state));
    } catch (error) {
      // storage unavailable (private mode): answers stay in memory until the download
    }
  }

  function load(participantId) {
    try {
      const saved = JSON.parse(localStorage.getItem(storageKey(participantId)) || "null");
      if (saved && saved.kit_id === study.kit_id) return saved;
    } catch (error) {
      // unreadable saved state: start over
    }
    return {
      kit_id: study.kit_id,
      participant_id: participantId,
      started_at: new Date().toISOString(),
      finished_at: null,
      user_agent: navigator.userAgent,
      answers: [],
    };
  }

  function sides(step) {
    const images = study.trials[step.index].images;
    return step.swap ? [images[1], images[0]] : [images[0], images[1]];
  }

  function show() {
    const position = state.answers.length;
    if (position >= plan.length) return finish();
    const step = plan[position];
    const trial = study.trials[step.index];
    const [left, right] = sides(step);
    byId("trial-screen").dataset.trialId = trial.id;
    byId("progress").textContent = "Screen " + (position + 1) + " of " + plan.length;
    byId("source").src = imageUrl(trial.source);
    byId("target").textContent = trial.target;
    byId("question").textContent = study.questions[trial.criterion].replace("{target}", trial.target);
    byId("left").src = imageUrl(left);
    byId("right").src = imageUrl(right);
    shownAt = performance.now();
    shownIso = new Date().toISOString();
  }

  function answer(choice) {
    const position = state.answers.length;
    const step = plan[position];
    const trial = study.trials[step.index];
    const [left, right] = sides(step);
    state.answers.push({
      trial_id: trial.id,
      criterion: trial.criterion,
      position: position,
      left: left,
      right: right,
      choice: choice,
      chosen: choice === "left" ? left : choice === "right" ? right : null,
      shown_at: shownIso,
      answered_at: new Date().toISOString(),
      response_ms: Math.round(performance.now() - shownAt),
    });
    save();
    show();
  }

  function finish() {
    if (!state.finished_at) state.finished_at = new Date().toISOString();
    save();
    byId("trial-screen").hidden = true;
    byId("done-screen").hidden = false;
    byId("answers-json").value = JSON.stringify(state, null, 1);
  }

  function download() {
    const blob = new Blob([JSON.stringify(state, null, 1)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "answers-" + study.kit_id + "-" + state.participant_id.replace(/[^\w-]/g, "_") + ".json";
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function updateStart() {
    byId("start").disabled = !(byId("consent").checked && byId("participant").value.trim());
  }

  byId("participant").value = new URLSearchParams(location.search).get("pid") || "";
  byId("participant").addEventListener("input", updateStart);
  byId("consent").addEventListener("change", updateStart);
  byId("start").addEventListener("click", function () {
    const participantId = byId("participant").value.trim();
    state = load(participantId);
    plan = schedule(participantId);
    byId("consent-screen").hidden = true;
    byId("trial-screen").hidden = false;
    show();
  });
  byId("choose-left").addEventListener("click", () => answer("left"));
  byId("choose-same").addEventListener("click", () => answer("same"));
  byId("choose-right").addEventListener("click", () => answer("right"));
  byId("download").addEventListener("click", download);
  updateStart();
})();
