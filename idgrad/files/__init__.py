"""Reading the user's files: models (:mod:`idgrad.files.loading`, :mod:`idgrad.files.exported`)
and images (:mod:`idgrad.files.images`). Files are hostile until proven otherwise."""
