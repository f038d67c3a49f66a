"""Training-side torch modules (teacher, student, priors). Never imported by the decoder."""
