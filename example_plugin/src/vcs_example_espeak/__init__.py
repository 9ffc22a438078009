"""vcs-example-espeak: an espeak-ng voice engine for Voice Creator Studio.

The host finds the plugin through the ``vcs.plugins`` entry point, which
names :mod:`vcs_example_espeak.plugin`; the manifest ``vcs_plugin.yaml``
sits beside this file.  Importing the package does nothing else, so that
importing is fast and side-effect free (the kit times it).
"""

__version__ = "0.1.0"
