"""An ML2 mechanism driver that binds every port, for API-only clouds without L2 agents.

Without agents no stock driver can bind a port, so Nova's servers would fail with
binding_failed. This driver reports each port bound to an OVS-style VIF on the first segment,
which is all that Nova's fake virt driver needs to bring a server to ACTIVE.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds every port on any host to its first segment."""

    def initialize(self):
        """Nothing to set up: there are no agents to talk to."""

    def bind_port(self, context):
        """Bind to the first segment offered."""
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return

    @property
    def connectivity(self):
        """Layer-2 connectivity, as an OVS driver would report."""
        return portbindings.CONNECTIVITY_L2
