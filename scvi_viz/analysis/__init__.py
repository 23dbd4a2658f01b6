"""Computations on a model and its cells, free of Streamlit: per-gene profiles, count
distributions, covariate comparisons, embeddings and the workspace that holds it all."""
