#!/usr/bin/python
# Copyright govcloud contributors
# Apache License 2.0 (see the repository's pyproject.toml)

DOCUMENTATION = r"""
---
module: ip_interface
short_description: Make a device's addresses and default routes what the plan says
description:
  - Reads the device with C(ip -json) and changes only what differs. Addresses are global
    ones; link-local and loopback addresses are never touched.
  - I(ipv4) and I(ipv6) are the exact lists of the device's static global addresses; an
    omitted list leaves that family's addresses alone. Addresses learned by SLAAC stay unless
    I(ipv6_dynamic=flush).
  - I(gateway4) and I(gateway6) set the default route through that address; C(ra) (IPv6)
    keeps the routes learned from router advertisements and removes static ones; C(none)
    removes every default route of the family; omitted leaves default routes alone.
  - Check mode reports what would change and changes nothing.
options:
  device:
    description: The network device.
    type: str
    required: true
  gateway4:
    description: IPv4 default route through this address, or C(none).
    type: str
  gateway6:
    description: IPv6 default route through this address, C(ra), or C(none).
    type: str
  ipv4:
    description: The device's IPv4 addresses in CIDR form.
    type: list
    elements: str
  ipv6:
    description: The device's static IPv6 addresses in CIDR form.
    type: list
    elements: str
  ipv6_dynamic:
    description: Keep or flush IPv6 addresses learned by SLAAC.
    type: str
    choices: [keep, flush]
    default: keep
author: govcloud
"""

EXAMPLES = r"""
- name: Renumber a host into the extranet, IPv6 from router advertisements
  govcloud.network.ip_interface:
    device: eth0
    ipv4: [198.18.152.10/23]
    gateway4: 198.18.152.1
    ipv6: [2001:db8:1e00::a/64]
    gateway6: ra

- name: Withdraw IPv4 from a host
  govcloud.network.ip_interface:
    device: eth0
    ipv4: []
    gateway4: none
"""

RETURN = r"""
actions:
  description: The iproute2 changes made (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import ipaddress
import json

from ansible.module_utils.basic import AnsibleModule

LEARNED = ("ra", "kernel_ra")


class Interface:
    """One device as `ip` sees it, and the changes that make it what the task asks."""

    def __init__(self, module):
        self.module = module
        self.device = module.params["device"]

    def ip(self, *args):
        rc, out, err = self.module.run_command(["ip", *args])
        if rc != 0:
            self.module.fail_json(msg=f"ip {' '.join(args)}: {err.strip()}")
        return out

    def addresses(self, family):
        """(static, dynamic) global addresses of a family."""
        static, dynamic = [], []
        out = self.ip("-json", f"-{family}", "address", "show", "dev", self.device)
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info", []):
                if info.get("scope") == "global":
                    address = f"{info['local']}/{info['prefixlen']}"
                    (dynamic if info.get("dynamic") else static).append(address)
        return static, dynamic

    def default_routes(self, family):
        out = self.ip("-json", f"-{family}", "route", "show", "default", "dev", self.device)
        return json.loads(out or "[]")

    def address_changes(self, family, wanted, flush_dynamic):
        static, dynamic = self.addresses(family)
        changes = []
        if wanted is not None:
            changes += [("address", "del", family, a) for a in static if a not in wanted]
            changes += [("address", "add", family, a) for a in wanted if a not in static]
        if flush_dynamic:
            changes += [("address", "del", family, a) for a in dynamic]
        return changes

    def route_changes(self, family, gateway):
        if gateway is None:
            return []
        routes = self.default_routes(family)
        if gateway == "none":
            drop = routes
        elif gateway == "ra":
            drop = [r for r in routes if r.get("protocol") not in LEARNED]
        else:
            drop = [
                r for r in routes if r.get("gateway") != gateway or r.get("protocol") in LEARNED
            ]
        changes = [("route", "del", family, r) for r in drop]
        keep = [r for r in routes if r not in drop]
        if gateway not in ("none", "ra") and not keep:
            changes.append(("route", "add", family, {"gateway": gateway}))
        return changes

    def describe(self, change):
        kind, verb, family, what = change
        if kind == "address":
            return f"ip -{family} address {verb} {what} dev {self.device}"
        via = f" via {what['gateway']}" if what.get("gateway") else ""
        proto = f" proto {what['protocol']}" if what.get("protocol") else ""
        return f"ip -{family} route {verb} default{via} dev {self.device}{proto}"

    def apply(self, change):
        self.ip(*self.describe(change).split()[1:])


def canonical(values, family, module):
    if values is None:
        return None
    result = []
    for value in values:
        try:
            interface = ipaddress.ip_interface(value)
        except ValueError:
            module.fail_json(msg=f"{value!r} is not an interface address in CIDR form")
        if interface.version != family:
            module.fail_json(msg=f"{value} is not an IPv{family} address")
        result.append(f"{interface.ip.compressed}/{interface.network.prefixlen}")
    return result


def gateway_of(value, family, module):
    if value in (None, "none") or (value == "ra" and family == 6):
        return value
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        module.fail_json(msg=f"gateway{family} {value!r} is not an address")
    if address.version != family:
        module.fail_json(msg=f"gateway{family} {value} is not an IPv{family} address")
    return address.compressed


def main():
    argument_spec = dict(
        device=dict(type="str", required=True),
        gateway4=dict(type="str"),
        gateway6=dict(type="str"),
        ipv4=dict(type="list", elements="str"),
        ipv6=dict(type="list", elements="str"),
        ipv6_dynamic=dict(type="str", choices=["keep", "flush"], default="keep"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    interface = Interface(module)
    # Addresses first (removals before additions), then routes: a new gateway must be on-link.
    changes = interface.address_changes(
        4, canonical(params["ipv4"], 4, module), False
    ) + interface.address_changes(
        6, canonical(params["ipv6"], 6, module), params["ipv6_dynamic"] == "flush"
    )
    changes.sort(key=lambda c: c[1] != "del")
    described = [interface.describe(c) for c in changes]
    result = dict(changed=bool(changes), actions=described)
    # Check mode is answered here, before anything changes (routes are only predicted after
    # the addresses they depend on).
    if module.check_mode:
        result["actions"] += [
            interface.describe(c)
            for family in (4, 6)
            for c in interface.route_changes(
                family, gateway_of(params[f"gateway{family}"], family, module)
            )
        ]
        result["changed"] = bool(result["actions"])
        module.exit_json(**result)

    for change in changes:
        interface.apply(change)
    for family in (4, 6):
        for change in interface.route_changes(
            family, gateway_of(params[f"gateway{family}"], family, module)
        ):
            interface.apply(change)
            result["actions"].append(interface.describe(change))
    result["changed"] = bool(result["actions"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
