"""Drop-in views for users of other NAS tools: NASLib's encodings and files (:mod:`nasforge.compat.naslib`)."""
