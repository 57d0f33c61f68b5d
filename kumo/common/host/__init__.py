"""Thin wrappers over the host: processes, links, namespaces, qemu-img."""
