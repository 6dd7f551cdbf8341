"""Architecture search: weight-sharing supernets and their backends."""
