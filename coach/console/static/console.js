// The RugCoach console. Everything shown comes from the API and is put on the page with
// textContent: nothing a user typed is ever read as HTML. No inline script (the CSP forbids it).
"use strict";

const $ = (selector) => document.querySelector(selector);
let csrf = "";
const WINDOW_S = 60;            // the chart shows the last minute
const live = { samples: [], events: [], status: null, dirty: false, socket: null, retry: 0 };
let loggingOut = false;   // a deliberate logout: the refusals that follow it are no expired session

const STATES = {
  starting: "De box start op", armed: "Wacht op een patiënt (kussen oppompen start de sessie)",
  waiting_empty: "Wacht tot het kussen leeg is", in_session: "Sessie bezig", calibrating: "Kalibreren",
};
const COACH_STATES = {
  waiting: "wacht", positioning: "houding aannemen", inflating: "kussen oppompen", measuring_rest: "rustmeting",
  instructing: "uitleg", contracting: "aanspannen", holding: "vasthouden", relaxing: "ontspannen",
  resting: "rust", moving: "oefening zonder kussen", paused: "gepauzeerd", checking: "beginstand controleren",
  done: "klaar",
};
const VERDICTS = { ok: "goed", too_weak: "te zwak", too_strong: "te sterk", pushing: "persen", not_held: "niet vastgehouden" };
// the access log's actions and outcomes, kept in the log as codes (docs/begrippen.md), read in Dutch
const LOG_ACTIONS = {
  login: "inloggen", logout: "uitloggen", setup: "box in gebruik nemen", setup_code_spoken: "code uitgesproken",
  add_patient: "patiënt toegevoegd", view_patient: "patiënt bekeken", set_programme: "programma gewijzigd",
  view_report: "rapport bekeken", download_csv: "herhalingen gedownload", export: "patiënt geëxporteerd",
  forget: "patiënt gewist", next_session: "volgende sessie gekozen", start: "sessie gestart", pause: "gepauzeerd",
  resume: "verder gegaan", stop: "sessie gestopt", live_view: "live meegekeken", read_access_log: "logboek gelezen",
  add_account: "account gemaakt", totp_on: "tweestapsverificatie aan", totp_off: "tweestapsverificatie uit",
  totp_rule: "tweestapsverificatie verplicht of niet", totp_reset: "tweestapsverificatie gewist",
  backup: "back-up gemaakt", restore: "back-up teruggezet", voice_take: "zin ingesproken",
  help_acknowledged: "hulpvraag beantwoord", calibrate: "drukmeter gekalibreerd",
  calibration_cancelled: "kalibratie afgebroken", box_settings: "instellingen van de box gewijzigd",
  voice_settings: "stem of geluid gewijzigd", voice_sample: "voorbeeldzin afgespeeld",
  set_patient_voice: "eigen volume en tempo van de patiënt", clinic_clash: "keuze bij dubbel na koppelen",
};
const LOG_OUTCOMES = {
  ok: "gelukt", opened: "geopend", required: "verplicht", optional: "vrij", "wrong code": "verkeerde code",
  "wrong code: a new code made": "verkeerde code; er is een nieuwe code gemaakt",
  "wrong name or password": "verkeerde naam of wachtwoord", "password right, code asked": "wachtwoord goed, code gevraagd",
  "wrong one-time code": "verkeerde eenmalige code", "refused: back-off": "geweigerd: te veel pogingen",
  "refused: role": "geweigerd: deze rol mag dit niet",
};
function logOutcome(value) {
  if (LOG_OUTCOMES[value]) return LOG_OUTCOMES[value];
  if (value.startsWith("ok: ")) return `gelukt (${value.slice(4)})`;
  if (value.startsWith("refused: ")) return `geweigerd (${LOG_OUTCOMES[value.slice(9)] || value.slice(9)})`;
  return value;
}
// the compensations, by the guide's words (docs/begrippen.md)
const COMPENSATIONS = { breath_hold: "adem ingehouden", pushing: "persen", pelvis_moved: "bekken bewogen",
  leak: "kussen loopt leeg", off_pbu: "van het kussen af", not_inflated: "kussen niet opgepompt" };

// a device by a name a person knows, not its path
function sensorName(port) {
  const name = String(port || "").split("/").pop();
  if (String(port).includes("/serial/by-id/")) {
    return name.replace(/^usb-/, "").replace(/-if\d+(-port\d+)?$/, "").replace(/_/g, " ");
  }
  return /^tty(ACM|USB)\d+$/.test(name) ? `USB-drukmeter (${name})` : "drukmeter";
}
function soundName(device) {
  const value = String(device || "");
  if (value === "" || value === "default") return "de luidspreker van de box";
  if (value === "none") return "geen geluid (testinstelling)";
  if (value.startsWith("wav:")) return "een geluidsbestand (testinstelling)";
  return value;
}
const PAUSES = { off_pbu: "patiënt van het kussen", sensor: "drukmeter weg", therapist: "door de therapeut",
  help: "wacht op de therapeut" };
const HELP_REASONS = { stuck: "komt al twee minuten niet verder", no_reaction: "reageert niet op de aanwijzing" };
const CORRECTION_NAMES = { too_weak: "te zwak", too_strong: "te sterk", not_held: "niet vastgehouden",
  pushing: "persen", breath_hold: "adem inhouden", pelvis_moved: "bekken beweegt", leak: "lek",
  off_pbu: "van het kussen", not_inflated: "kussen niet opgepompt" };

async function api(method, path, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    return { ok: false, status: 0, data: { error: "De box is niet bereikbaar. Controleer het netwerk." } };
  }
  let data = {};
  try { data = await response.json(); } catch (error) { data = {}; }
  if (response.status === 401 && location.pathname === "/" && !loggingOut) {
    location.assign("/login?verlopen");   // the login page says why
  }
  return { ok: response.ok, status: response.status, data };
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
}

function showError(container, field, message) {
  const target = container.querySelector(`.field-error[data-for="${field}"]`) ||
                 container.querySelector('.field-error[data-for="form"]') ||
                 container.querySelector(".field-error");
  if (target) target.textContent = message;
}

function formData(form) {
  const data = {};
  new FormData(form).forEach((value, key) => { data[key] = String(value); });
  form.querySelectorAll("input[type=checkbox]").forEach((box) => { data[box.name] = box.checked; });
  return data;
}

function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try { await handler(formData(form)); } finally { button.disabled = false; }
  });
}

// -- before login ----------------------------------------------------------------------------
async function preLogin() {
  const result = await api("GET", "/api/csrf");
  csrf = result.data.csrf || "";
}

async function showSetup() {
  await preLogin();
  $("#setup").hidden = false;
  $("#announce").addEventListener("click", async () => {
    const result = await api("POST", "/api/setup/announce", {});
    $("#announce-result").textContent = result.ok
      ? "Luister bij de box: de box zegt de code twee keer."
      : (result.data.error || "Dat lukte niet.");
  });
  onSubmit($("#setup-form"), async (data) => {
    const result = await api("POST", "/api/setup", data);
    if (result.ok) { location.assign("/"); return; }
    showError($("#setup-form"), result.data.field || "form", result.data.error || "Dat lukte niet.");
  });
}

async function showLogin() {
  await preLogin();
  $("#login").hidden = false;
  if (location.search === "?verlopen") {
    $("#login-note").textContent = "U bent uitgelogd: u deed een tijd niets, of u was al lang ingelogd. Log opnieuw in.";
  }
  onSubmit($("#login-form"), async (data) => {
    const result = await api("POST", "/api/login", data);
    if (result.ok) { location.assign("/"); return; }
    if (result.data.field === "code") {   // two-step login: the password was right, the code comes next
      $("#login-code").hidden = false;
      $("#login-code input").focus();
    }
    showError($("#login-form"), result.data.field || "form", result.data.error || "Inloggen lukte niet.");
  });
}

// -- pages by task: a hash route each (#/box, #/patienten, ...), every section on its own page ------------
const PAGES = { box: "De box nu", patienten: "Patiënten", stem: "Uw eigen stem", instellingen: "Instellingen",
  accounts: "Accounts" };
const enabled = new Set();   // the sections this account may see (the role, the clinic's two-step rule)
let onlyPage = null;         // two-step login still to turn on: that page alone
let currentPage = null;

function enable(id) {
  enabled.add(id);
  route();
}

function pageAllowed(page) {
  if (onlyPage) return page === onlyPage;
  return [...document.querySelectorAll("main section[data-page]")].some((s) => s.dataset.page === page && enabled.has(s.id));
}

function route() {
  const asked = (location.hash.match(/^#\/([a-z]+)/) || [])[1];
  const page = onlyPage || (PAGES[asked] && pageAllowed(asked) ? asked : "box");
  for (const section of document.querySelectorAll("main section[data-page]")) {
    section.hidden = !(section.dataset.page === page && enabled.has(section.id));
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.hidden = !pageAllowed(link.dataset.page);
    if (link.dataset.page === page) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  $("main").dataset.page = page;
  document.title = `RugCoach: ${PAGES[page]}`;
  if (page !== currentPage) {
    currentPage = page;
    window.scrollTo(0, 0);
  }
  live.dirty = true;   // the chart's size changes with its page
  fitLiveView();
}

// on a phone, a running session's live view fills the screen below the header
function fitLiveView() {
  const top = $("main").getBoundingClientRect().top + window.scrollY;
  document.documentElement.style.setProperty("--top", `${Math.round(top)}px`);
}

// -- the console -------------------------------------------------------------------------------
async function showConsole() {
  const me = await api("GET", "/api/me");
  if (!me.ok) return;
  csrf = me.data.csrf;
  $("#who").textContent = `${me.data.account} (${me.data.role === "admin" ? "beheerder" : "therapeut"})`;
  $("#who").hidden = false;
  $("#logout").hidden = false;
  $("#outside").hidden = !me.data.outside_lan;
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", fitLiveView);
  $("#nav-accounts").textContent = me.data.role === "admin" ? "Accounts" : "Account";
  PAGES.accounts = me.data.role === "admin" ? "Accounts" : "Mijn account";
  $("#logout").addEventListener("click", async () => {
    loggingOut = true;
    if (live.socket) live.socket.close();
    await api("POST", "/api/logout", {});
    location.assign("/login");
  });
  if (me.data.totp_required && !me.data.totp) onlyPage = "accounts";   // the clinic's rule: the app first, then the console
  showMine(me.data);
  if (onlyPage) return;
  $("#nav").hidden = false;
  for (const id of ["box", "next", "alerts", "health", "calibrate"]) enable(id);
  $("#box-version").textContent = me.data.version;
  for (const action of ["start", "pause", "resume", "stop"]) {
    $(`#${action}`).addEventListener("click", async () => {
      const box = $("#box");
      clearErrors(box);
      if (action === "stop" && !window.confirm("De sessie nu stoppen? De patiënt hoort dat de therapeut stopt.")) return;
      const result = await api("POST", `/api/session/${action}`, {});
      if (!result.ok) showError(box, "actions", result.data.error || "Dat lukte niet.");
    });
  }
  $("#help-acknowledge").addEventListener("click", async () => {
    const result = await api("POST", "/api/help/acknowledge", {});
    if (result.ok) $("#help-alert").hidden = true;
  });
  onSubmit($("#next-form"), async (data) => {
    const result = await api("POST", "/api/next", data);
    if (result.ok) {
      $("#next-result").textContent = `Klaar: ${result.data.patient || "anoniem"}, programma ${result.data.programme}. ` +
        "De sessie begint als het kussen wordt opgepompt.";
    } else {
      showError($("#next-form"), result.data.field || "patient", result.data.error || "Dat lukte niet.");
    }
  });
  showCalibration();
  showClinic();
  showPatients();
  showVoice();
  showSettings(me.data.role === "admin");
  if (me.data.role === "admin") showAdmin();
  setInterval(showAlerts, 20000);   // '2 min geleden' moves on
  connect();
  requestAnimationFrame(draw);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { live.dirty = true; requestAnimationFrame(draw); } });
}

// -- my account: two-step login --------------------------------------------------------------------
function showMine(me) {
  enable("mine");
  const must = me.totp_required && !me.totp;
  $("#totp-must").hidden = !must;
  const state = (on) => {
    $("#totp-state").textContent = on ? "aan" : "uit";
    $("#totp-begin-form").hidden = on;
    $("#totp-off-form").hidden = !on || me.totp_required;
  };
  state(me.totp);
  onSubmit($("#totp-begin-form"), async (data) => {
    const result = await api("POST", "/api/me/totp/begin", data);
    if (!result.ok) { showError($("#totp-begin-form"), result.data.field || "my_password", result.data.error || "Dat lukte niet."); return; }
    $("#totp-begin-form").reset();
    $("#totp-begin-form").hidden = true;
    $("#totp-qr").src = result.data.qr;
    $("#totp-secret").textContent = result.data.secret.replace(/(.{4})/g, "$1 ").trim();
    $("#totp-confirm-form").hidden = false;
  });
  onSubmit($("#totp-confirm-form"), async (data) => {
    const result = await api("POST", "/api/me/totp/confirm", data);
    if (!result.ok) { showError($("#totp-confirm-form"), result.data.field || "code", result.data.error || "Dat lukte niet."); return; }
    $("#totp-confirm-form").reset();
    $("#totp-confirm-form").hidden = true;
    $("#totp-qr").removeAttribute("src");
    $("#totp-secret").textContent = "";
    if (must) { location.reload(); return; }   // now the rest of the console opens
    state(true);
    $("#totp-result").textContent = "Tweestapsverificatie staat aan. Voortaan vraagt het inloggen om een code uit de app.";
  });
  onSubmit($("#totp-off-form"), async (data) => {
    const result = await api("POST", "/api/me/totp/off", data);
    if (!result.ok) { showError($("#totp-off-form"), result.data.field || "my_password", result.data.error || "Dat lukte niet."); return; }
    $("#totp-off-form").reset();
    state(false);
    $("#totp-result").textContent = "Tweestapsverificatie staat uit.";
  });
}

// A file made on request (a backup, an export): POSTed with the password, saved by the browser.
async function download(path, data, form) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: JSON.stringify(data),
  }).catch(() => null);
  if (!response || !response.ok) {
    let error = "Dat lukte niet.";
    let field = "form";
    try { const body = await response.json(); error = body.error || error; field = body.field || field; } catch (e) { /* keep */ }
    showError(form, field, error);
    return null;
  }
  const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = named ? named[1] : "rugcoach.bin";
  link.click();
  URL.revokeObjectURL(link.href);
  return link.download;
}

// -- patients and their programmes -------------------------------------------------------------
let library = [];
let current = null;

async function showPatients() {
  enable("patients");
  library = (await api("GET", "/api/exercises")).data.exercises || [];
  const search = $("#patient-search");
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(listPatients, 200); });
  await listPatients();
  onSubmit($("#patient-form"), async (data) => {
    const result = await api("POST", "/api/patients", data);
    if (!result.ok) { showError($("#patient-form"), result.data.field || "pseudonym", result.data.error || "Dat lukte niet."); return; }
    $("#patient-form").reset();
    $("#patient-result").textContent = `Patiënt ${result.data.pseudonym} is toegevoegd.`;
    await listPatients();
    await openPatient(result.data.pseudonym);
  });
  $("#add-exercise").addEventListener("click", () => addRow({ exercise: library.length ? library[0].id : "" }));
  onSubmit($("#patient-voice-form"), async (data) => {
    const saved = await api("POST", `/api/patients/${encodeURIComponent(current)}/voice`,
      { volume: data.volume ? Number(data.volume) / 100 : null, rate_wpm: data.rate_wpm || null });
    if (!saved.ok) { showError($("#patient-voice-form"), saved.data.field || "volume", saved.data.error || "Dat lukte niet."); return; }
    $("#patient-voice-result").textContent = "Bewaard: de box gebruikt dit in de sessies van deze patiënt.";
  });
  onSubmit($("#programme-form"), async () => {
    const exercises = [...$("#programme-rows").children].map((li) => ({
      exercise: li.querySelector("[name=exercise]").value,
      repetitions: li.querySelector("[name=repetitions]").value,
      hold_s: li.querySelector("[name=hold_s]").value,
      rest_s: li.querySelector("[name=rest_s]").value,
      sides: li.querySelector("[name=sides]").value,
    }));
    const result = await api("POST", `/api/patients/${encodeURIComponent(current)}/programme`, { exercises });
    if (!result.ok) {
      const field = result.data.field || "exercises";
      const match = /^exercises\.(\d+)\.(\w+)$/.exec(field);
      const row = match && $("#programme-rows").children[Number(match[1])];
      const target = row && row.querySelector(`.field-error[data-for="${match[2]}"]`);
      if (target) target.textContent = result.data.error; else showError($("#programme-form"), "exercises", result.data.error);
      return;
    }
    $("#programme-result").textContent = "Het programma is bewaard.";
  });
  onSubmit($("#export-form"), async (data) => {
    const done = await download(`/api/patients/${encodeURIComponent(current)}/export`, data, $("#export-form"));
    if (done) $("#export-form").reset();
  });
  onSubmit($("#forget-form"), async (data) => {
    if (!window.confirm(`Alle gegevens van ${current} definitief wissen?`)) return;
    const result = await api("POST", `/api/patients/${encodeURIComponent(current)}/forget`, data);
    if (!result.ok) { showError($("#forget-form"), result.data.field || "form", result.data.error || "Wissen lukte niet."); return; }
    $("#forget-form").reset();
    $("#patient-detail").hidden = true;
    $("#patient-result").textContent = `${current} is gewist (${result.data.sessions} sessies).`;
    current = null;
    await listPatients();
  });
  $("#patient-next").addEventListener("click", async () => {
    const result = await api("POST", "/api/next", { patient: current });
    $("#patient-next-result").textContent = result.ok
      ? `Klaar: ${result.data.patient}, ${result.data.programme}. De sessie begint als het kussen wordt opgepompt. `
      : (result.data.error || "Dat lukte niet.");
    if (result.ok) {   // the session is followed on the box's page
      const link = document.createElement("a");
      link.href = "#/box";
      link.textContent = "Naar de box";
      $("#patient-next-result").append(link);
    }
  });
}

async function listPatients() {
  const q = encodeURIComponent($("#patient-search").value || "");
  const result = await api("GET", `/api/patients?q=${q}`);
  const list = $("#patient-list");
  list.replaceChildren();
  for (const patient of result.data.patients || []) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = patient.name ? `${patient.pseudonym}: ${patient.name}` : patient.pseudonym;
    button.addEventListener("click", () => openPatient(patient.pseudonym));
    li.append(button);
    list.append(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li");
    li.className = "note";
    li.textContent = $("#patient-search").value ? "Geen patiënt gevonden." : "Nog geen patiënten. Voeg hieronder een patiënt toe.";
    list.append(li);
  }
}

async function openPatient(pseudonym) {
  const result = await api("GET", `/api/patients/${encodeURIComponent(pseudonym)}`);
  if (!result.ok) return;
  current = result.data.pseudonym;
  $("#patient-detail").hidden = false;
  $("#patient-title").textContent = result.data.name ? `${result.data.pseudonym}: ${result.data.name}` : result.data.pseudonym;
  $("#patient-note").textContent = result.data.note || "";
  $("#patient-report").href = `/api/patients/${encodeURIComponent(current)}/report`;
  $("#patient-csv").href = `/api/patients/${encodeURIComponent(current)}/repetitions.csv`;
  $("#programme-result").textContent = "";
  $("#patient-next-result").textContent = "";
  clearErrors($("#programme-form"));
  $("#programme-rows").replaceChildren();
  for (const item of result.data.exercises || []) addRow(item);
  const heard = $("#patient-voice-form");
  clearErrors(heard);
  heard.elements.volume.value = result.data.volume ? Math.round(result.data.volume * 100) : "";
  heard.elements.rate_wpm.value = result.data.rate_wpm || "";
  $("#patient-voice-result").textContent = "";
  $("#patient-voice").open = Boolean(result.data.volume || result.data.rate_wpm);
}

function addRow(item) {
  const li = document.createElement("li");
  const label = document.createElement("label");
  label.textContent = "Oefening";
  const select = document.createElement("select");
  select.name = "exercise";
  for (const exercise of library) {
    const option = document.createElement("option");
    option.value = exercise.id;
    option.textContent = `Fase ${exercise.phase}: ${exercise.title}`;
    select.append(option);
  }
  select.value = item.exercise;
  label.append(select);
  const doses = document.createElement("div");
  doses.className = "doses";
  const defaults = () => library.find((e) => e.id === select.value) || {};
  const fields = [["repetitions", "Herhalingen"], ["hold_s", "Vasthouden (s)"], ["rest_s", "Rust (s)"]];
  for (const [name, text] of fields) {
    const box = document.createElement("label");
    box.textContent = text;
    const input = document.createElement("input");
    input.name = name;
    input.inputMode = "decimal";
    input.value = item[name] != null ? String(item[name]) : String(defaults()[name] ?? "");
    box.append(input);
    const error = document.createElement("p");
    error.className = "field-error";
    error.dataset.for = name;
    box.append(error);
    doses.append(box);
  }
  // a limb exercise: both sides in turn, one side first, or one side only (a painful hip)
  const sidesLabel = document.createElement("label");
  sidesLabel.textContent = "Kanten";
  const sides = document.createElement("select");
  sides.name = "sides";
  for (const [value, text] of [["", "Zoals de oefening"], ["every", "Links en rechts om en om"],
    ["half", "Eerst alles links, dan rechts"], ["links", "Alleen links"], ["rechts", "Alleen rechts"]]) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    sides.append(option);
  }
  sides.value = item.sides || "";
  sidesLabel.append(sides);
  const sidesError = document.createElement("p");
  sidesError.className = "field-error";
  sidesError.dataset.for = "sides";
  const showSides = () => {
    const limb = (defaults().sides || []).length > 0;
    sidesLabel.hidden = !limb;
    if (!limb) sides.value = "";
  };
  showSides();
  select.addEventListener("change", () => {
    const chosen = defaults();
    for (const [name] of fields) li.querySelector(`[name=${name}]`).value = String(chosen[name] ?? "");
    showSides();
  });
  const exerciseError = document.createElement("p");
  exerciseError.className = "field-error";
  exerciseError.dataset.for = "exercise";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Verwijderen";
  remove.addEventListener("click", () => li.remove());
  li.append(label, exerciseError, doses, sidesLabel, sidesError, remove);
  $("#programme-rows").append(li);
}

async function showAdmin() {
  for (const id of ["admin", "log", "backup", "box-settings"]) enable(id);
  const list = async () => {
    const result = await api("GET", "/api/accounts");
    const ul = $("#accounts");
    ul.replaceChildren();
    for (const account of result.data.accounts || []) {
      const li = document.createElement("li");
      li.textContent = `${account.name} (${account.role === "admin" ? "beheerder" : "therapeut"}` +
        `, tweestaps ${account.totp ? "aan" : "uit"})`;
      ul.append(li);
    }
    $("#totp-rule-form [name=required]").checked = Boolean(result.data.totp_required);
  };
  await list();
  onSubmit($("#account-form"), async (data) => {
    const result = await api("POST", "/api/accounts", data);
    if (result.ok) {
      $("#account-result").textContent = `Account ${result.data.name} is gemaakt.`;
      $("#account-form").reset();
      await list();
    } else {
      showError($("#account-form"), result.data.field || "name", result.data.error || "Dat lukte niet.");
    }
  });
  onSubmit($("#totp-rule-form"), async (data) => {
    const result = await api("POST", "/api/settings/totp", data);
    if (!result.ok) { showError($("#totp-rule-form"), result.data.field || "my_password", result.data.error || "Dat lukte niet."); return; }
    $("#totp-rule-form [name=my_password]").value = "";
    $("#totp-rule-result").textContent = result.data.totp_required
      ? "Tweestapsverificatie is nu verplicht. Wie het nog niet heeft, zet het aan bij het volgende inloggen."
      : "Tweestapsverificatie is nu vrijwillig.";
    await list();
  });
  onSubmit($("#totp-reset-form"), async (data) => {
    const result = await api("POST", "/api/accounts/totp-reset", data);
    if (!result.ok) { showError($("#totp-reset-form"), result.data.field || "name", result.data.error || "Dat lukte niet."); return; }
    $("#totp-reset-form").reset();
    $("#totp-reset-result").textContent = `De tweestapsverificatie van ${result.data.name} is gewist.`;
    await list();
  });
  onSubmit($("#backup-form"), async (data) => {
    const name = await download("/api/backup", data, $("#backup-form"));
    if (!name) return;
    $("#backup-form").reset();
    $("#backup-result").textContent = `Back-up gedownload: ${name}`;
  });
  $("#restore-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = $("#restore-form");
    clearErrors(form);
    const file = form.querySelector("[name=file]").files[0];
    if (!file) { showError(form, "file", "Kies een back-upbestand."); return; }
    if (!window.confirm("Alle gegevens van deze box vervangen door die van de back-up?")) return;
    const body = new FormData();   // the password first: the box checks it before it takes the file
    body.append("my_password", form.querySelector("[name=my_password]").value);
    body.append("file", file);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    $("#restore-result").textContent = "Bezig met terugzetten...";
    let response = null;
    try {
      response = await fetch("/api/restore", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }, body });
    } catch (error) { response = null; } finally { button.disabled = false; }
    let data = {};
    try { data = response ? await response.json() : {}; } catch (error) { data = {}; }
    if (!response || !response.ok) {
      $("#restore-result").textContent = "";
      showError(form, data.field || "form", data.error || "De box is niet bereikbaar. Controleer het netwerk.");
      return;
    }
    form.reset();
    $("#restore-result").textContent = `Teruggezet: ${data.patients} patiënten, ${data.sessions} sessies. ` +
      "Log opnieuw in met een account uit de back-up.";
    setTimeout(() => location.assign("/login"), 4000);
  });
  $("#show-log").addEventListener("click", async () => {
    const result = await api("GET", "/api/access-log");
    const body = $("#access-log tbody");
    body.replaceChildren();
    for (const entry of result.data.entries || []) {
      const row = document.createElement("tr");
      for (const key of ["at", "account", "address", "action", "patient", "outcome"]) {
        const cell = document.createElement("td");
        const value = entry[key] == null ? "" : String(entry[key]);
        cell.textContent = key === "action" ? (LOG_ACTIONS[value] || value)
          : key === "outcome" ? logOutcome(value)
          : key === "address" && entry.box ? `${value} (${entry.box})` : value;   // a clinic's log: which room
        cell.title = value;   // the stored words, for whoever audits the log
        row.append(cell);
      }
      body.append(row);
    }
    $("#access-log").hidden = false;
  });
}

// -- the box's settings and its voice, kept by the box itself -----------------------------------------
function option(value, text) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  return item;
}

let settingsNow = {};
function fillSettings(settings) {
  settingsNow = settings;
  fillVoiceChoices(settings, settings.voice_pack || "");
  $("#speech-volume").value = Math.round(settings.volume * 100);
  $("#speech-rate").value = settings.rate_wpm;
  showSpeechValues();
  const form = $("#box-settings-form");
  form.elements.name.value = settings.name || "";
  form.elements.correction_gap_s.value = settings.correction_gap_s;
  $("#settings-port").replaceChildren(...(settings.ports || []).map((port) =>
    option(port.path, `${sensorName(port.path)}${port.present ? "" : " (niet gevonden)"}`)));
  if (!(settings.ports || []).length) $("#settings-port").append(option("", "Geen drukmeter gevonden"));
  $("#settings-port").value = settings.port || "";
  const devices = settings.sound_devices && settings.sound_devices.length ? settings.sound_devices : [settings.audio];
  if (!devices.includes(settings.audio)) devices.push(settings.audio);
  $("#settings-audio").replaceChildren(...devices.map((device) => option(device, soundName(device))));
  $("#settings-audio").value = settings.audio;
}

// the voices to choose from, with `choice` chosen (when it is still there, else the box's own)
function fillVoiceChoices(settings, choice) {
  const packs = settings.voice_packs || [];
  $("#speech-voice").replaceChildren(option("", "De computerstem"),
    ...packs.map((pack) => option(pack.name, `De eigen opnamen "${pack.name}" (computerstem waar een zin ontbreekt)`)));
  const there = choice === "" || packs.some((pack) => pack.name === choice);   // "": the computer voice
  $("#speech-voice").value = there ? choice : settings.voice_pack || "";
  const chosen = packs.find((pack) => pack.name === settings.voice_pack) || packs[0];
  $("#speech-recorded").textContent = chosen ? `Opgenomen in "${chosen.name}": ` + Object.keys(chosen.sentences)
    .map((name) => `${name} ${chosen.recorded[name]} van ${chosen.sentences[name]} zinnen`).join(", ") + "."
    : "Nog geen eigen opnamen: neem ze hieronder op.";
}

function showSpeechValues() {
  $("#speech-volume-shown").textContent = `${$("#speech-volume").value}%`;
  $("#speech-rate-shown").textContent = `${$("#speech-rate").value} woorden per minuut`;
}

function whenSaid(result) {
  return Object.entries(result.takes_effect_nl || {}).map(([name, when]) => `${SETTING_NAMES[name] || name} ${when}`)
    .join(", ");
}
const SETTING_NAMES = { name: "naam", port: "drukmeter", audio: "luidspreker", correction_gap_s: "tijd tussen aanwijzingen",
  voice_pack: "stem", volume: "volume", rate_wpm: "spreektempo" };

async function showSettings(admin) {
  enable("speech");
  const result = await api("GET", "/api/settings");
  if (result.ok) fillSettings(result.data);
  else $("#speech-result").textContent = result.data.error || "De instellingen konden niet geladen worden.";
  $("#speech-volume").addEventListener("input", showSpeechValues);
  $("#speech-rate").addEventListener("input", showSpeechValues);
  onSubmit($("#speech-form"), async () => {
    const saved = await api("POST", "/api/settings/voice", { voice_pack: $("#speech-voice").value,
      volume: Number($("#speech-volume").value) / 100, rate_wpm: Number($("#speech-rate").value) });
    if (!saved.ok) { showError($("#speech-form"), saved.data.field || "form", saved.data.error || "Dat lukte niet."); return; }
    fillSettings(saved.data.settings);
    $("#speech-result").textContent = `Bewaard: ${whenSaid(saved.data)}.`;
  });
  $("#speech-say").addEventListener("click", async () => {
    clearErrors($("#speech-form"));
    const said = await api("POST", "/api/settings/say", { volume: Number($("#speech-volume").value) / 100,
      rate_wpm: Number($("#speech-rate").value) });
    if (!said.ok) { showError($("#speech-form"), said.data.field || "form", said.data.error || "Dat lukte niet."); return; }
    $("#speech-result").textContent = `De box zegt: “${said.data.text}”`;
  });
  if (!admin) return;
  onSubmit($("#box-settings-form"), async (data) => {
    const changed = {};   // only what was changed: the rest stays as the box has it
    for (const [name, value] of Object.entries(data)) {
      if (value !== "" && String(settingsNow[name] ?? "") !== value) changed[name] = value;
    }
    if (!Object.keys(changed).length) { $("#box-settings-result").textContent = "Er is niets gewijzigd."; return; }
    const saved = await api("POST", "/api/settings", changed);
    if (!saved.ok) {
      showError($("#box-settings-form"), saved.data.field || "form", saved.data.error || "Dat lukte niet.");
      return;
    }
    fillSettings(saved.data.settings);
    $("#box-settings-result").textContent = `Bewaard: ${whenSaid(saved.data)}.`;
  });
}

// -- the therapist's own voice: one sentence at a time, recorded with the browser's microphone ---------
const voice = { sentences: [], index: 0, recorder: null, chunks: [], take: null, stream: null };

async function showVoice() {
  enable("voice");
  await loadVoice();
  $("#voice-missing").addEventListener("change", () => { voice.index = firstToRecord(0); showSentence(); });
  $("#voice-previous").addEventListener("click", () => move(-1));
  $("#voice-next").addEventListener("click", () => move(1));
  $("#voice-record").addEventListener("click", startTake);
  $("#voice-stop").addEventListener("click", () => { if (voice.recorder) voice.recorder.stop(); });
  $("#voice-again").addEventListener("click", startTake);
  $("#voice-keep").addEventListener("click", keepTake);
}

async function loadVoice() {
  const result = await api("GET", "/api/voice");
  if (!result.ok) { $("#voice-state").textContent = result.data.error || "De zinnen konden niet geladen worden."; return; }
  voice.sentences = result.data.sentences;
  const outdated = result.data.outdated || [];
  $("#voice-outdated").hidden = outdated.length === 0;
  $("#voice-outdated summary").textContent = `Verouderde opnamen (${outdated.length})`;
  $("#voice-outdated ul").replaceChildren(...outdated.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  $("#voice-pack").textContent = result.data.in_use
    ? `Opnamen gaan naar de stem "${result.data.pack}", die de box gebruikt.`
    : `Opnamen gaan naar de stem "${result.data.pack}". Kies die hierboven bij "Stem" om de box ermee te laten spreken.`;
  showProgress();
  voice.index = firstToRecord(0);
  showSentence();
}

function showProgress() {
  const done = voice.sentences.filter((s) => s.recorded).length;
  $("#voice-progress").max = Math.max(1, voice.sentences.length);
  $("#voice-progress").value = done;
  $("#voice-count").textContent = `${done} van de ${voice.sentences.length} zinnen opgenomen.`;
}

// the next sentence to record from `from` on, then from the start; -1 when every one is recorded
function firstToRecord(from) {
  const count = voice.sentences.length;
  if (!$("#voice-missing").checked) return count ? Math.min(from, count - 1) : -1;
  for (let n = 0; n < count; n++) {
    const i = (from + n) % count;
    if (!voice.sentences[i].recorded) return i;
  }
  return -1;
}

// while a take is being recorded or kept, the sentence stays put: a take belongs to its sentence
function busyWithTake(busy) {
  for (const id of ["#voice-previous", "#voice-next", "#voice-missing"]) $(id).disabled = busy;
}

function move(step) {
  let i = Math.max(voice.index, 0) + step;
  while ($("#voice-missing").checked && i >= 0 && i < voice.sentences.length && voice.sentences[i].recorded) i += step;
  if (i < 0 || i >= voice.sentences.length) return;
  voice.index = i;
  showSentence();
}

function showSentence() {
  const sentence = voice.sentences[voice.index];
  clearErrors($("#voice"));
  if (voice.recorder && voice.recorder.state === "recording") {   // never: navigation is off meanwhile
    voice.recorder.ondataavailable = null;
    voice.recorder.stop();
  }
  voice.recorder = null;
  voice.take = null;
  busyWithTake(false);
  $("#voice-stop").hidden = true;
  $("#voice-keep").hidden = true;
  $("#voice-again").hidden = true;
  $("#voice-record").hidden = false;
  $("#voice-listen").hidden = true;
  if (!sentence) { $("#voice-sentence").textContent = "Alle zinnen zijn opgenomen."; $("#voice-record").hidden = true; return; }
  $("#voice-sentence").textContent = sentence.text;
  $("#voice-state").textContent = `Zin ${voice.index + 1} van ${voice.sentences.length}` +
    (sentence.recorded ? " (al opgenomen: een nieuwe opname vervangt hem)" : "");
  if (sentence.recorded) {
    $("#voice-listen").src = `/api/voice/audio?text=${encodeURIComponent(sentence.text)}`;
    $("#voice-listen").hidden = false;
  }
}

async function startTake() {
  clearErrors($("#voice"));
  try {
    voice.stream = voice.stream || await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError($("#voice"), "take", "De browser geeft de microfoon niet. Sta de microfoon toe voor deze pagina.");
    return;
  }
  const chunks = [];   // this take's own: a take never mixes with another
  const recorder = new MediaRecorder(voice.stream);
  voice.recorder = recorder;
  busyWithTake(true);
  recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
  recorder.addEventListener("stop", () => {
    if (voice.recorder !== recorder) return;   // a take abandoned
    busyWithTake(false);   // moving on now leaves this take unkept
    voice.take = new Blob(chunks, { type: recorder.mimeType });
    $("#voice-listen").src = URL.createObjectURL(voice.take);
    $("#voice-listen").hidden = false;
    $("#voice-listen").play().catch(() => {});   // hear it back at once
    $("#voice-stop").hidden = true;
    $("#voice-keep").hidden = false;
    $("#voice-again").hidden = false;
    $("#voice-state").textContent = "Luister terug. Goed? Bewaar de opname. Anders: opnieuw.";
  });
  recorder.start();
  $("#voice-record").hidden = true;
  $("#voice-keep").hidden = true;
  $("#voice-again").hidden = true;
  $("#voice-stop").hidden = false;
  $("#voice-state").textContent = "Opname loopt: spreek de zin rustig uit en druk dan op Stoppen.";
}

async function keepTake() {
  const sentence = voice.sentences[voice.index];
  if (!voice.take || !sentence) return;
  const body = new FormData();   // the sentence first: the box checks it before it takes the sound
  body.append("text", sentence.text);
  body.append("file", voice.take, "opname.webm");
  $("#voice-keep").disabled = true;
  $("#voice-again").disabled = true;
  busyWithTake(true);
  $("#voice-state").textContent = "Bezig met verwerken...";
  let response = null;
  try {
    response = await fetch("/api/voice/take", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }, body });
  } catch (error) { response = null; } finally { $("#voice-keep").disabled = false; $("#voice-again").disabled = false; }
  let data = {};
  try { data = response ? await response.json() : {}; } catch (error) { data = {}; }
  if (!response || !response.ok) {
    busyWithTake(false);
    $("#voice-state").textContent = "";
    showError($("#voice"), "take", data.error || "De box is niet bereikbaar. Controleer het netwerk.");
    return;
  }
  sentence.recorded = true;
  voice.recorder = null;
  showProgress();
  $("#voice-state").textContent = `Bewaard (${Number(data.seconds).toFixed(1)} s).`;
  voice.index = firstToRecord(voice.index + 1);
  showSentence();
  $("#voice-state").textContent = `Bewaard. ${$("#voice-state").textContent}`;
  // the recordings can be chosen as the box's voice at once (and their count is new); what the
  // therapist has chosen in the forms meanwhile, and not yet saved, stays as they left it
  const settings = await api("GET", "/api/settings");
  if (settings.ok) fillVoiceChoices(settings.data, $("#speech-voice").value);
}

// -- the live view -------------------------------------------------------------------------------
function connect() {
  const socket = new WebSocket(`wss://${location.host}/api/live`);
  live.socket = socket;
  socket.addEventListener("message", (message) => {
    live.retry = 0;
    receive(JSON.parse(message.data));
  });
  socket.addEventListener("close", (event) => {
    if (loggingOut) return;
    if (event.code === 4401) { location.assign("/login?verlopen"); return; }
    showLink("restarting-console");
    const wait = Math.min(500 * 2 ** live.retry, 5000);
    live.retry += 1;
    setTimeout(connect, wait);
  });
}

function showLink(state) {
  const banner = $("#link");
  if (state === "up") { banner.hidden = true; return; }
  banner.textContent = state === "restarting-console"
    ? "Geen verbinding met de console. Opnieuw verbinden..."
    : "De box start opnieuw op. Even geduld...";
  banner.hidden = false;
}

function receive(message) {
  if (message.topic === "snapshot") {
    live.samples = (message.session && message.session.samples) || [];
    live.events = [];
    $("#reps").replaceChildren();
    alerts.now = [];   // the session so far (or the last one) comes again; the earlier ones stay history
    for (const event of (message.session && message.session.events) || []) takeEvent(event);
    showAlerts();
    showLink(message.link);
    if (message.status) showStatus(message.status);
  } else if (message.topic === "samples") {
    for (const sample of message.samples) live.samples.push(sample);
    trim();
  } else if (message.topic === "event") {
    takeEvent(message.event);
    showAlerts();
  } else if (message.topic === "status") {
    showStatus(message.status);
  } else if (message.topic === "link") {
    showLink(message.state);
  }
  live.dirty = true;
}

function trim() {
  if (live.samples.length > 20000) live.samples.splice(0, live.samples.length - 15000);
}

// -- the notices: this session's apart from the day's history, each with the time it came ------------
const alerts = { now: [], history: [] };

// when an event happened, by the wall clock: now, or as long ago as its time lies behind the newest sample
function arrivedAt(event) {
  const newest = live.samples.length ? live.samples[live.samples.length - 1][0] : event.t;
  return Date.now() - Math.max(0, (newest - (event.t || 0)) * 1000);
}

function takeEvent(event) {
  live.events.push(event);
  if (event.type === "daemon" && event.state === "session_started") {
    live.samples = live.samples.filter((s) => s[0] >= event.t);
    $("#reps").replaceChildren();
    // the notices are this session's: an earlier one's go to the day's history
    alerts.history = alerts.now.concat(alerts.history);
    alerts.now = [];
  }
  if (event.type === "daemon" && (event.state === "calibration_done" || event.state === "calibration_failed")) {
    calibrationEnded(event);
  }
  if (event.type === "say") {
    $("#box-saying").textContent = `“${event.text}”`;
    $("#calibrate-saying").textContent = `“${event.text}”`;
  }
  if (event.type === "rep") {
    const li = document.createElement("li");
    li.className = event.verdict === "ok" ? "ok" : "bad";
    li.textContent = `${event.rep}: ${VERDICTS[event.verdict] || event.verdict}, ${Number(event.held_s).toFixed(0)} s`;
    $("#reps").append(li);
  }
  const warning = event.type === "sensor" ? (event.status === "lost" ? "Drukmeter weg" : "Drukmeter terug")
    : event.type === "compensation" ? `Compensatie: ${COMPENSATIONS[event.kind] || "onbekend"}` : null;
  if (warning) {
    alerts.now.unshift({ text: warning, at: arrivedAt(event) });
    alerts.now.splice(20);
    alerts.history.splice(100);
  }
}

function clockTime(ms) {
  return new Date(ms).toLocaleTimeString("nl-NL", { hour: "2-digit", minute: "2-digit" });
}

// a time a person reads: 'zojuist', '2 min geleden', '3 uur geleden'
function ago(ms) {
  const s = (Date.now() - ms) / 1000;
  if (s < 60) return "zojuist";
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min geleden`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} uur geleden`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "gisteren" : `${days} dagen geleden`;
}

function showAlerts() {
  const midnight = new Date().setHours(0, 0, 0, 0);
  alerts.history = alerts.history.filter((a) => a.at >= midnight);
  const item = (alert) => {
    const li = document.createElement("li");
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = `${clockTime(alert.at)}, ${ago(alert.at)}`;
    li.append(when, ` ${alert.text}`);
    return li;
  };
  $("#warnings").replaceChildren(...alerts.now.map(item));
  $("#warnings-none").hidden = alerts.now.length > 0;
  $("#history").replaceChildren(...alerts.history.map(item));
  $("#history-count").textContent = String(alerts.history.length);
  $("#history-box").hidden = alerts.history.length === 0;
  if (live.status) showHealth(live.status);   // 'sinds ... geleden' moves on too
}

function formatTime(t) {
  const s = Math.max(0, Math.floor(t));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function number(value, digits) {
  return Number(value).toFixed(digits).replace(".", ",");
}

function showStatus(status) {
  live.status = status;
  $("#box-state").textContent = STATES[status.state] || status.state;
  const session = status.session;
  const next = status.next;
  $("#box-patient").textContent = session ? (session.patient || "anoniem")
    : (next && next.chosen ? `volgende: ${next.patient || "anoniem"}` : "-");
  const coach = status.coach;
  if (coach) {
    const state = COACH_STATES[coach.state] || coach.state;
    const paused = coach.paused ? ` (${PAUSES[coach.paused] || coach.paused})` : "";
    $("#box-exercise").textContent = `${coach.exercise_number}/${coach.exercises}: ${coach.title}, ${state}${paused}`;
    $("#box-repetition").textContent = `${coach.repetition} van ${coach.repetitions}`;
    $("#box-hold").textContent = coach.hold_left_s != null ? `nog ${Math.max(0, Math.ceil(coach.hold_left_s))} s` : "-";
  } else {
    $("#box-exercise").textContent = "-";
    $("#box-repetition").textContent = "-";
    $("#box-hold").textContent = "-";
  }
  if (status.version) $("#box-version").textContent = status.version;
  showHealth(status);
  showHelp(status.help);
  $("#box-title").textContent = status.name ? `${status.name}: de box nu` : "De box nu";   // the room
  const inSession = status.state === "in_session";
  const calibrating = status.state === "calibrating";
  const begun = (inSession || calibrating) && !document.body.classList.contains(inSession ? "in-session" : "calibrating");
  document.body.classList.toggle("in-session", inSession);
  document.body.classList.toggle("calibrating", calibrating);
  $("#nav a[data-page=box]").classList.toggle("live", inSession || calibrating);
  $("#alerts-title").textContent = inSession ? "Deze sessie" : "Laatste sessie";
  const pausedByTherapist = Boolean(coach && coach.paused === "therapist");
  $("#start").disabled = inSession || calibrating;
  $("#pause").disabled = !inSession || pausedByTherapist;
  $("#resume").disabled = !pausedByTherapist;
  $("#stop").disabled = !inSession;
  $("#start").hidden = inSession;                  // the buttons of the moment, and only those
  $("#pause").hidden = !inSession || pausedByTherapist;
  $("#resume").hidden = !pausedByTherapist;
  $("#stop").hidden = !inSession;
  showCalibrationState(status);
  fitLiveView();
  // a session (or a calibration) that begins while the box's page is open shows at the top, unless
  // the therapist is typing somewhere
  const typing = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (begun && currentPage === "box" && !typing) window.scrollTo(0, 0);
}

// -- the box's health at a glance: sensor, speaker, calibration, space, clock, version ----------------
function since(iso) {
  const ms = Date.parse(iso || "");
  if (Number.isNaN(ms)) return "";
  const day = new Date(ms).toDateString() === new Date().toDateString() ? "" :
    `${new Date(ms).toLocaleDateString("nl-NL", { day: "numeric", month: "long" })} `;
  return ` sinds ${day}${clockTime(ms)} (${ago(ms)})`;
}

function showHealth(status) {
  const sensor = status.sensor || {};
  $("#box-sensor").textContent = (sensor.connected ? `aangesloten: ${sensorName(sensor.port)}`
    : `niet aangesloten (${sensorName(sensor.port)})`) + since(sensor.since);
  const sound = status.sound || {};
  const device = String(sound.device || "");
  const testing = device === "none" || device.startsWith("wav:");   // a test setting: nothing to test
  $("#box-sound").textContent = sound.available === false ? `werkt niet: ${soundName(sound.device)}`
    : sound.available === true || testing ? `${testing ? "" : "werkt: "}${soundName(sound.device)}`
    : `${soundName(sound.device)} (getest bij elke sessie)`;
  $("#box-calibrated").textContent = calibratedText(status.calibrated);
  $("#calibrate-last").textContent = calibratedText(status.calibrated);
  showDisk(status.disk);
  showClock(status.clock);
}

// -- the practice: every box, and whether the clinic store is reached ----------------------------------
async function refreshClinic() {
  const answer = await api("GET", "/api/clinic");
  const clinic = answer.ok && Boolean(answer.data.clinic);
  if (clinic) showClinicState(answer.data);
  return clinic;
}

async function showClinic() {
  if (!(await refreshClinic())) return;   // a box on its own: nothing to show
  enable("clinic");
  setInterval(refreshClinic, 1000);
}

function boxState(state) {
  if (!state || state.state === "off") return "uit (de coach draait niet)";
  if (state.state === "unknown") return "onbekend";
  if (state.state === "in_session") {
    const where = state.exercise ? `, ${state.title || state.exercise}, herhaling ${state.repetition} van ${state.repetitions}` : "";
    return `sessie: ${state.patient || "anoniem"}${where}`;
  }
  if (state.state === "calibrating") return "drukmeter wordt gekalibreerd";
  if (state.state === "starting") return "start op";
  return "vrij";
}

let clinicBoxes = [];   // as the store said last, each with when it was seen by this page's clock
function showClinicState(data) {
  const facts = data.clinic;
  const away = $("#clinic-away");
  away.hidden = facts.reachable;
  if (!facts.reachable) {
    const when = facts.away_since ? since(facts.away_since) : "";
    away.textContent = `De praktijkopslag is niet bereikbaar${when}. Wat gewoon doorgaat: inloggen, de volgende ` +
      "patiënt en zijn programma kiezen (uit de kopie op deze box) en de sessies op deze box, die later vanzelf " +
      "worden verstuurd. Nieuwe patiënten, programma's en accounts kunnen pas weer als de opslag terug is; " +
      "het verslag toont tot dan alleen de sessies van deze box.";
  }
  const list = $("#clinic-boxes");
  // the store away: the last list stays, greyed, and how long ago each box was seen goes on growing
  if (data.boxes) clinicBoxes = data.boxes.map((box) => ({ ...box, seen_at: Date.now() - box.seconds_ago * 1000 }));
  list.classList.toggle("stale", !data.boxes);
  list.replaceChildren();
  for (const box of clinicBoxes) {
    const item = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = box.name + (box.name === facts.box ? " (deze box)" : "");
    const text = document.createElement("span");
    const state = box.state || {};
    const secondsAgo = (Date.now() - box.seen_at) / 1000;
    const seen = secondsAgo < 5 ? "nu" : ago(box.seen_at);
    const sensor = state.sensor === undefined ? "" : state.sensor ? ", drukmeter aangesloten" : ", drukmeter niet aangesloten";
    // quiet for 30 s: its coach is off; with the store away, as it was when the store last answered
    const off = (data.boxes ? secondsAgo : box.seconds_ago) > 30;
    text.textContent = ` ${boxState(off ? { state: "off" } : state)}${sensor}; gezien: ${seen}`;
    item.append(name, text);
    if (box.console && box.console.startsWith("https://") && box.name !== facts.box) {   // a box's own console, nothing else
      const go = document.createElement("a");
      go.href = box.console;
      go.textContent = "Naar deze box";
      go.className = "box-link";
      item.append(" ", go);
    }
    list.append(item);
  }
  showClashes(data.clashes);
  const waiting = [];
  if (facts.sessions_waiting) waiting.push(`${facts.sessions_waiting} sessie${facts.sessions_waiting === 1 ? "" : "s"}`);
  if (facts.erasures_waiting) waiting.push(`${facts.erasures_waiting} wisopdracht${facts.erasures_waiting === 1 ? "" : "en"}`);
  $("#clinic-waiting").textContent = waiting.length ? `Wacht nog op versturen vanaf deze box: ${waiting.join(", ")}.` : "";
}

function clashText(kind, row) {
  if (!row) return "bestaat niet meer";
  if (kind === "account") {
    return `${row.role === "admin" ? "beheerder" : "therapeut"}${row.totp ? ", met inlogcode" : ""}, ` +
      `gemaakt ${row.created.slice(0, 10)}`;
  }
  const parts = [row.name || "geen naam", row.note || "geen notitie", row.programme ? "eigen programma" : "geen programma"];
  return parts.join(", ");
}

function showClashes(clashes) {
  const box = $("#clinic-clashes");
  if (!clashes) return;   // not an admin, or the store away: as it was
  box.hidden = clashes.length === 0;
  const shown = clashes.map((c) => c.id).join(",");
  const list = $("#clinic-clash-list");
  if (list.dataset.shown === shown) return;   // the admin may be choosing: redraw only on a change
  list.dataset.shown = shown;
  list.replaceChildren();
  for (const clash of clashes) {
    const item = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = `${clash.kind === "account" ? "Account" : "Patiënt"} ${clash.key}`;
    const clinicSide = document.createElement("div");
    clinicSide.textContent = `Praktijk: ${clashText(clash.kind, clash.clinic_row)}`;
    const boxSide = document.createElement("div");
    boxSide.textContent = `${clash.box}: ${clashText(clash.kind, clash.box_row)}`;
    const error = document.createElement("p");
    error.className = "field-error";
    item.append(title, clinicSide, boxSide);
    for (const [keep, label] of [["clinic", "Houd die van de praktijk"], ["box", `Houd die van ${clash.box}`]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.keep = keep;
      button.addEventListener("click", async () => {
        const result = await api("POST", `/api/clinic/clashes/${clash.id}`, { keep });
        if (result.ok) {
          item.remove();
          list.dataset.shown = "";
        } else {
          error.textContent = result.data.error || "Dat lukte niet.";
        }
      });
      item.append(button, " ");
    }
    item.append(error);
    list.append(item);
  }
}

function calibratedText(calibrated) {
  if (calibrated === undefined) return "-";
  if (calibrated === null) return "nog nooit gekalibreerd";
  const ms = Date.parse(calibrated.date || "");
  const when = Number.isNaN(ms) ? "-" : new Date(ms).toLocaleDateString("nl-NL", { day: "numeric", month: "long", year: "numeric" });
  const unit = calibrated.unit ? ` ${calibrated.unit}` : "";
  const zero = calibrated.offset != null ? `nulpunt ${number(calibrated.offset, 2)}${unit}` : null;
  const span = calibrated.span_mmhg != null ? `ijkpunt ${number(calibrated.span_mmhg, 0)} mmHg` : null;
  const gain = calibrated.gain != null ? `factor ${number(calibrated.gain, 4)}` : null;
  const parts = [zero, span, gain].filter(Boolean);
  return parts.length ? `${when} (${parts.join(", ")})` : when;
}

function showClock(clock) {
  const warning = $("#clock-warning");
  const ms = clock ? Date.parse(clock.now || "") : NaN;
  if (Number.isNaN(ms)) { $("#box-clock").textContent = "-"; warning.hidden = true; return; }
  // the box's time when the status was made against this computer's now: a status is at most a few seconds old
  const minutes = Math.round((ms - Date.now()) / 60000);
  const synced = clock.synchronized === true ? ", gelijkgezet via internet"
    : clock.synchronized === false ? ", niet gelijkgezet via internet" : "";
  const off = Math.abs(minutes) > 2;
  const text = `De klok van de box loopt ${Math.abs(minutes)} minuten ${minutes > 0 ? "voor" : "achter"}.`;
  $("#box-clock").textContent = off ? `${text.slice(0, -1)}${synced}` : `goed (${clockTime(ms)}${synced})`;
  warning.textContent = `${text} De box zet dan een verkeerde datum en tijd bij de sessies. ` +
    "Vraag wie de box onderhoudt om de klok gelijk te zetten.";
  warning.hidden = !off;
}

// -- calibration from the console: the box leads by voice, the page shows the same steps -------------
const calibration = { span: 40 };

function showCalibration() {
  $("#calibrate-start").addEventListener("click", () => startCalibration(false));
  $("#calibrate-again").addEventListener("click", async () => {
    if (await cancelCalibration()) await startCalibration(true);
  });
  $("#calibrate-cancel").addEventListener("click", cancelCalibration);
}

async function startCalibration(again) {
  const section = $("#calibrate");
  clearErrors(section);
  $("#calibrate-result").textContent = "";
  const span = Number($("#calibrate-span").value);
  if (!Number.isFinite(span) || span < 10 || span > 200) {
    showError(section, "calibrate", "Kies een waarde op de wijzer van 10 tot 200 mmHg.");
    return;
  }
  $("#calibrate-start").disabled = true;
  let result = await api("POST", "/api/calibration", { span_mmhg: span });
  // 'Opnieuw': the box may still be ending the calibration just cancelled
  for (let tries = 0; again && result.status === 409 && tries < 10; tries++) {
    await new Promise((resolve) => { setTimeout(resolve, 500); });
    result = await api("POST", "/api/calibration", { span_mmhg: span });
  }
  $("#calibrate-start").disabled = false;
  if (!result.ok) {
    showError(section, "calibrate", result.data.error ||
      (result.status === 404 ? "Deze box kan nog niet kalibreren vanuit de console." : "Kalibreren starten lukte niet."));
    if (live.status) showCalibrationState(live.status);
    return;
  }
  calibration.span = span;
  $("#calibrate-span-text").textContent = String(span);
  $("#calibrate-saying").textContent = "";
  $("#calibrate-result").textContent = "Luister naar de box en volg de stappen.";
}

async function cancelCalibration() {
  clearErrors($("#calibrate"));
  const result = await api("POST", "/api/calibration/cancel", {});
  if (!result.ok) {
    showError($("#calibrate"), "calibrate", result.data.error || "Annuleren lukte niet.");
    return false;
  }
  $("#calibrate-result").textContent = "De kalibratie is afgebroken. De box houdt de vorige waarden.";
  return true;
}

function showCalibrationState(status) {
  const calibrating = status.state === "calibrating";
  const step = calibrating && status.calibration ? status.calibration.step : null;
  $("#calibrate-live").hidden = !calibrating;
  $("#calibrate-idle").hidden = calibrating;
  const why = status.state === "in_session" ? "Kalibreren kan niet tijdens een sessie: de box coacht nu een patiënt."
    : status.state === "starting" ? "Kalibreren kan zodra de box is opgestart en de drukmeter is aangesloten."
    : (status.sensor && status.sensor.connected === false) ? "Kalibreren kan pas als de drukmeter is aangesloten." : "";
  $("#calibrate-why").textContent = why;
  $("#calibrate-start").disabled = Boolean(why) || calibrating;
  if (!calibrating) return;
  const span = status.calibration && status.calibration.span_mmhg != null ? status.calibration.span_mmhg : calibration.span;
  $("#calibrate-span-text").textContent = number(span, 0);
  const order = ["zero", "span", "done"];
  for (const li of document.querySelectorAll("#calibrate-steps li")) {
    const at = order.indexOf(li.dataset.step), now = order.indexOf(step);
    li.className = at === now ? "now" : (now > at ? "done" : "");
  }
  $("#calibrate-target").textContent = step === "zero" ? "0 mmHg" : step === "span" ? `${number(span, 0)} mmHg` : "-";
}

function calibrationEnded(event) {
  const outcome = String(event.outcome || "");
  $("#calibrate-result").textContent = event.state === "calibration_done"
    ? "De kalibratie is gelukt. De box gebruikt vanaf nu de nieuwe waarden."
    : /cancel/i.test(outcome) ? "De kalibratie is afgebroken. De box houdt de vorige waarden."
      : "De kalibratie is niet gelukt. De box houdt de vorige waarden. Probeer het opnieuw.";
  $("#calibrate-result").title = outcome;   // the box's own words, for whoever maintains it
}

// -- a patient who is stuck calls the therapist: every open console alerts until someone goes -------
let helpSince = null;
function showHelp(help) {
  const alert = $("#help-alert");
  if (!help) { alert.hidden = true; helpSince = null; return; }
  const who = help.patient ? `Patiënt ${help.patient}` : "De patiënt";
  const why = HELP_REASONS[help.reason] || "heeft hulp nodig";
  const what = help.kind ? ` (${CORRECTION_NAMES[help.kind] || help.kind})` : "";
  $("#help-text").textContent = `${who} ${why}${what} en wacht op u. De oefening staat stil.`;
  if (helpSince !== help.since) {   // a new call: a sound too, where the page may play one
    helpSince = help.since;
    beep();
  }
  alert.hidden = false;
}

function beep() {
  try {
    const audio = new (window.AudioContext || window.webkitAudioContext)();
    for (const [at, hz] of [[0, 880], [0.35, 660], [0.7, 880]]) {
      const tone = audio.createOscillator(), gain = audio.createGain();
      tone.frequency.value = hz;
      gain.gain.setValueAtTime(0.2, audio.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.3);
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + at);
      tone.stop(audio.currentTime + at + 0.3);
    }
  } catch (error) { /* no sound allowed here: the alert is seen */ }
}

// -- space on the box's card: a full card is a state the box waits out, said before it comes ----------
function megabytes(mb) {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1).replace(".", ",")} GB` : `${mb} MB`;
}

function showDisk(disk) {
  const warning = $("#disk-warning");
  if (!disk) { $("#box-disk").textContent = "-"; warning.hidden = true; return; }
  $("#box-disk").textContent = `${megabytes(disk.free_mb)} vrij van ${megabytes(disk.total_mb)}`;
  if (disk.full) {
    const waiting = disk.waiting_repetitions ? ` (${disk.waiting_repetitions} herhaling(en))` : "";
    warning.textContent = "De geheugenkaart van de box is vol. De sessie gaat gewoon door: wat nog niet " +
      `bewaard is${waiting}, houdt de box vast tot er weer ruimte is. Vraag wie de box onderhoudt ` +
      "om ruimte te maken (oude bestanden weg, of een grotere kaart).";
  } else if (disk.low) {
    warning.textContent = `De geheugenkaart van de box is bijna vol: nog ${megabytes(disk.free_mb)} vrij. ` +
      "Vraag wie de box onderhoudt om ruimte te maken voordat hij vol is (oude bestanden weg, of een grotere kaart).";
  }
  warning.hidden = !(disk.full || disk.low);
}

// -- the chart: drawn only when something changed, and never in a hidden tab ------------------------
// a step for an axis's ticks: 1, 2 or 5 times a power of ten, about `count` of them over `range`
function tickStep(range, count) {
  const raw = range / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (raw <= m * power) return m * power;
  return 10 * power;
}

function showPressure(samples) {
  const sensor = live.status && live.status.sensor;
  const now = samples.length && !(sensor && sensor.connected === false)
    ? `${number(samples[samples.length - 1][1], 0)} mmHg` : "-";
  $("#box-pressure").textContent = now;
  $("#calibrate-pressure").textContent = now;
}

function draw() {
  if (document.hidden) return;            // a phone's battery: nothing drawn until it is seen again
  requestAnimationFrame(draw);
  if (!live.dirty) return;
  const canvas = $("#chart");
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio), height = Math.round(canvas.clientHeight * ratio);
  const samples = live.samples;
  live.dirty = false;
  showPressure(samples);
  if (!width || !height) return;         // on another page: drawn when its page shows (route() asks)
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const px = (n) => n * ratio;
  const font = (size) => `${px(size)}px system-ui, sans-serif`;
  const left = px(40), right = px(10), top = px(22), bottom = px(24);
  const plotW = width - left - right, plotH = height - top - bottom;
  g.font = font(12);
  g.fillStyle = "#5a5a5a";
  g.textAlign = "left";
  g.textBaseline = "alphabetic";
  g.fillText("mmHg", px(4), px(14));       // the y axis's unit, above its numbers
  if (!samples.length) {
    g.textAlign = "center";
    g.fillText("Nog geen druk gemeten", width / 2, height / 2);
    return;
  }
  const end = samples[samples.length - 1][0];
  // the last minute; a session that just began fills the chart from its start
  const start = Math.max(samples[0][0], end - WINDOW_S);
  const span = Math.max(end - start, 10);
  const from = end - span;
  let first = samples.length - 1;
  while (first > 0 && samples[first - 1][0] >= start) first -= 1;
  let lo = Infinity, hi = -Infinity;
  for (let i = first; i < samples.length; i++) { lo = Math.min(lo, samples[i][1]); hi = Math.max(hi, samples[i][1]); }
  const band = live.status && live.status.coach && live.status.coach.band_mmhg;
  if (band) { lo = Math.min(lo, band[0]); hi = Math.max(hi, band[1]); }
  const floor = Math.min(0, lo);              // no pressure below zero drawn unless measured
  lo = Math.max(lo - 2, floor); hi += 2;
  if (hi - lo < 10) { lo = Math.max((hi + lo) / 2 - 5, floor); hi = lo + 10; }
  const yStep = tickStep(hi - lo, plotH / px(40) < 3 ? 3 : Math.min(6, plotH / px(40)));
  lo = Math.floor(lo / yStep) * yStep; hi = Math.ceil(hi / yStep) * yStep;
  const x = (t) => left + (t - from) / span * plotW;
  const y = (v) => top + plotH - (v - lo) / (hi - lo) * plotH;
  // the target band, shaded and named
  if (band) {
    g.fillStyle = "rgba(46, 160, 67, 0.2)";
    g.fillRect(left, y(band[1]), plotW, y(band[0]) - y(band[1]));
    g.fillStyle = "#1e6b30";
    g.textAlign = "right";
    g.textBaseline = "top";
    g.fillText("doel", left + plotW - px(4), y(band[1]) + px(2));
  }
  // y: mmHg, a line at each tick
  g.strokeStyle = "#e3e3e3";
  g.lineWidth = px(1);
  g.fillStyle = "#5a5a5a";
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let v = lo; v <= hi + yStep / 2; v += yStep) {
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(left + plotW, y(v)); g.stroke();
    g.fillText(String(Math.round(v)), left - px(6), y(v));
  }
  // x: seconds before now
  const xStep = span > 40 ? 15 : span > 20 ? 10 : 5;
  g.textBaseline = "top";
  for (let back = 0; back <= span + 0.01; back += xStep) {
    const at = x(end - back);
    g.beginPath(); g.moveTo(at, top); g.lineTo(at, top + plotH); g.stroke();
    g.textAlign = back === 0 ? "right" : "center";
    g.fillText(back === 0 ? "nu" : `-${back} s`, back === 0 ? at : Math.max(at, left + px(14)), top + plotH + px(6));
  }
  g.strokeStyle = "#999";
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, top + plotH); g.lineTo(left + plotW, top + plotH); g.stroke();
  // the trace
  g.save();
  g.beginPath(); g.rect(left, top, plotW, plotH); g.clip();
  g.strokeStyle = "#0b5cad";
  g.lineWidth = px(2);
  g.lineJoin = "round";
  g.beginPath();
  for (let i = first; i < samples.length; i++) {
    const [t, v] = samples[i];
    if (i === first) g.moveTo(x(t), y(v)); else g.lineTo(x(t), y(v));
  }
  g.stroke();
  g.restore();
  canvas.dataset.lastT = String(end);     // the newest point drawn (the live-delay benchmark reads it)
}

if (location.pathname === "/setup") showSetup();
else if (location.pathname === "/login") showLogin();
else showConsole();
