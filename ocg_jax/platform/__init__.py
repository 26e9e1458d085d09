"""Backend-specific work, kept off the model files' floor.

What XLA:CPU needed to run the GENESIS family fast on a 2-core machine
(``docs/performance.md``): convolutions on oneDNN through XLA:CPU's own call
(``onednn``), stride-2 convolutions and transposed convolutions as stride-1
convolutions (``strided``), hand-written derivatives (``batchnorm_gate``,
``derivatives``), the XLA flags ``import ocg_jax`` sets (``xla_flags``) and
huge pages for the launchers (``hugepages``).

Models never import this package: they ask ``ocg_jax.nn.layers`` for a layer and
get the form here only when JAX's default backend is the CPU.  Each tuned form
computes the same function with the same parameters as its plain Flax/JAX form;
the tests check both.
"""
