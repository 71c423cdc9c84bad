// Pilot Monitor dashboard: small enhancements only; every page works without this script.
(function () {
  "use strict";
  // Ask before an action that cannot be undone (forms marked data-confirm). With
  // data-confirm-fill, "{name}" in the question is the form's chosen option of that name
  // (closing a quarter names the quarter and the country chosen).
  function filled(form, question) {
    if (!form.hasAttribute("data-confirm-fill")) { return question; }
    return question.replace(/\{(\w+)\}/g, function (whole, name) {
      var field = form.elements[name];
      if (field && field.options && field.selectedIndex >= 0) { return field.options[field.selectedIndex].text; }
      return field && field.value ? field.value : whole;
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(filled(form, question))) { event.preventDefault(); }
  });
  // Review queue: "select all" and a live count on the bulk-approve button.
  function refreshBulk(scope) {
    var boxes = scope.querySelectorAll("input[name=activity_id]");
    var chosen = scope.querySelectorAll("input[name=activity_id]:checked").length;
    var all = scope.querySelector("input[data-select-all]");
    var count = scope.querySelector("[data-selected-count]");
    if (all) { all.checked = boxes.length > 0 && chosen === boxes.length; all.indeterminate = chosen > 0 && chosen < boxes.length; }
    if (count) { count.textContent = "(" + chosen + ")"; }
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    var scope = box.closest && box.closest("[data-bulk]");
    if (!scope) { return; }
    if (box.hasAttribute("data-select-all")) {
      scope.querySelectorAll("input[name=activity_id]").forEach(function (b) { b.checked = box.checked; });
    }
    refreshBulk(scope);
  });
  document.querySelectorAll("[data-bulk]").forEach(refreshBulk);
  // Sync conflicts: typing another value for a field chooses it (else the side still ticked
  // would be kept).
  document.addEventListener("input", function (event) {
    var box = event.target;
    var other = box.closest && box.closest(".conflict-other");
    var radio = other && other.querySelector("input[type=radio]");
    if (radio && box !== radio) { radio.checked = true; }
  });
  // Exports: offer only the breakdowns the chosen indicator accepts.
  var indicator = document.getElementById("indicator");
  function refreshGroupBy() {
    var option = indicator.options[indicator.selectedIndex];
    var allowed = (option.getAttribute("data-group-by") || "").split(" ");
    document.querySelectorAll("[data-group-by-choices] input").forEach(function (box) {
      var ok = allowed.indexOf(box.value) >= 0;
      box.disabled = !ok;
      if (!ok) { box.checked = false; }
      box.parentNode.classList.toggle("muted", !ok);
    });
  }
  if (indicator) { indicator.addEventListener("change", refreshGroupBy); refreshGroupBy(); }
  // Project page: a sex only for the indicators counted by sex, a baseline only for results.
  // What the server sent back (a refused form) is left as typed, to be seen with its message.
  var targetIndicator = document.querySelector("[data-target-indicator]");
  function refreshTargetForm(reset) {
    var form = targetIndicator.form;
    var option = targetIndicator.options[targetIndicator.selectedIndex];
    var sex = form.querySelector("select[name=sex]");
    var kind = form.querySelector("select[name=kind]");
    var baseline = kind && kind.querySelector("option[value=baseline]");
    var bySex = option.hasAttribute("data-by-sex");
    var result = option.hasAttribute("data-baseline");
    if (sex && (reset || sex.value === "")) { if (!bySex) { sex.value = ""; } sex.disabled = !bySex; }
    if (baseline && (reset || kind.value !== "baseline")) {
      if (!result && kind.value === "baseline") { kind.value = "target"; }
      baseline.disabled = !result;
    }
  }
  if (targetIndicator) {
    targetIndicator.addEventListener("change", function () { refreshTargetForm(true); });
    refreshTargetForm(false);
  }
})();
