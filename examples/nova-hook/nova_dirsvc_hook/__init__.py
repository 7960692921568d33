"""Nova hooks that keep instances in an LDAP directory through the nova-dirsvc CLI."""
from nova_dirsvc_hook.hooks import CreateInstanceHook, DeleteInstanceHook

__all__ = ["CreateInstanceHook", "DeleteInstanceHook"]
