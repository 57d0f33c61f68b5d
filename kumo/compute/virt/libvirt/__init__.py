"""The libvirt/QEMU driver (``[compute] driver = libvirt``): see :mod:`.driver`."""
