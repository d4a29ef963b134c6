// Live quota feedback on the request form: plain JavaScript, no framework. Without it the
// form still works: "Check quota" asks the server, and submitting is checked there anyway.
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  var panel = document.getElementById("quota-feedback");
  if (!form || !panel) { return; }
  var kind = panel.dataset.kind;
  function available(resource) {
    return Number(panel.getAttribute("data-available-" + resource.replace(/_/g, "-")));
  }
  function value(name) {
    var field = form.elements[name];
    if (!field || field.value === "") { return 0; }
    return Math.trunc(Number(field.value)) || 0;
  }
  function requested() {
    var r = { vcpu: 0, ram_gb: 0, storage_gb: 0, floating_ips: 0, networks: 0 };
    if (kind === "compute") {
      var option = form.elements.flavor.selectedOptions[0];
      var count = form.elements.count.value === "" ? 1 : value("count");
      r.vcpu = Number(option.dataset.vcpu) * count;
      r.ram_gb = Number(option.dataset.ram_gb) * count;
    } else if (kind === "storage") {
      r.storage_gb = value("storage_gb");
    } else if (kind === "floating_ip") {
      r.floating_ips = form.elements.floating_ips.value === "" ? 1 : value("floating_ips");
    } else if (kind === "network") {
      r.networks = 1;
    }
    return r;
  }
  function update() {
    var r = requested();
    Object.keys(r).forEach(function (resource) {
      var output = panel.querySelector('output[data-resource="' + resource + '"]');
      if (!output) { return; }
      var left = available(resource) - (kind === "quota_change" ? 0 : r[resource]);
      output.textContent = String(left);
      output.parentElement.classList.toggle("over", left < 0);
    });
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}());
