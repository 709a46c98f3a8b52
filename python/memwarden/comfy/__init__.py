"""ComfyUI nodes of memwarden (classic node API: NODE_CLASS_MAPPINGS), assembled
from the node modules in the order ComfyUI lists them."""

from . import leak_nodes, manager_nodes, nodes

NODE_CLASS_MAPPINGS = {
    **nodes.NODE_CLASS_MAPPINGS,
    **leak_nodes.NODE_CLASS_MAPPINGS,
    **manager_nodes.NODE_CLASS_MAPPINGS,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    **nodes.NODE_DISPLAY_NAME_MAPPINGS,
    **leak_nodes.NODE_DISPLAY_NAME_MAPPINGS,
    **manager_nodes.NODE_DISPLAY_NAME_MAPPINGS,
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
