"""Analyses of trained models: feature extractors, latent probes, run evaluation."""
