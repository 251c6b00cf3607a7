"""The words the fake totesys data is made of (names, places, products)."""

from __future__ import annotations

FIRST_NAMES = (
    "Jeremie", "Deron", "Jeanette", "Ana", "Magdalena", "Korey", "Raphael", "Oscar",
    "Antwan", "Lenora", "Imani", "Stan", "Rick", "Jazmyn", "Meda", "Pierre", "Emily",
    "Flavio", "Mylene", "Irving", "Carmel", "Dolores", "Gideon", "Hattie", "Isidro",
    "Juwan", "Kenyatta", "Lurline", "Minnie", "Nathan", "Odessa", "Percy", "Quentin",
    "Rosalind", "Sigrid", "Tobias", "Ursula", "Vivian", "Wilfred", "Yvette",
)  # fmt: skip

LAST_NAMES = (
    "Franey", "Beier", "Greenholt", "Glover", "Auer", "Reynolds", "Rippin", "Bednar",
    "Rutherford", "Moen", "Schmitt", "Lehner", "Hudson", "Bashirian", "Cummings",
    "Sauer", "Fahey", "Leannon", "Predovic", "Morar", "Kohler", "Armstrong", "Kemmer",
    "Frami", "Gutmann", "Herzog", "Jacobi", "Kuhic", "Lesch", "Mante", "Nitzsche",
    "Okuneva", "Pfannerstill", "Quigley", "Runolfsdottir", "Stracke", "Tromp", "Upton",
    "Veum", "Wintheiser", "Yundt", "Zboncak",
)  # fmt: skip

COMPANY_SUFFIXES = ("Inc", "LLC", "Group", "and Sons", "Ltd", "PLC", "Partners", "Holdings")

STREET_SUFFIXES = (
    "Via", "Isle", "Mews", "Crossing", "Road", "Street", "Avenue", "Lane", "Court",
    "Ridge", "Fork", "Plaza", "Terrace", "Trail", "Square",
)  # fmt: skip

FLAT_PREFIXES = ("Apt.", "Suite", "Flat", "Unit")

DISTRICTS = (
    "Avon", "Bedfordshire", "Berkshire", "Buckinghamshire", "Cambridgeshire", "Cheshire",
    "Cornwall", "Cumbria", "Derbyshire", "Devon", "Dorset", "Essex", "Kent", "Norfolk",
    "Suffolk", "Surrey",
)  # fmt: skip

# (city, country): 30 addresses over 29 countries; the last country appears twice.
PLACES = (
    ("New Patienceburgh", "Austria"),
    ("Aliso Viejo", "San Marino"),
    ("Lake Charnock", "Antigua and Barbuda"),
    ("Fort Shadrach", "Iceland"),
    ("Suffolk", "Estonia"),
    ("Bartonside", "Ireland"),
    ("Sayreville", "Portugal"),
    ("Olsonside", "Lesotho"),
    ("Kendraburgh", "Bermuda"),
    ("Lake Arne", "Japan"),
    ("Pricetown", "Bosnia and Herzegovina"),
    ("East Bobbie", "Kenya"),
    ("Utica", "Chile"),
    ("South Wyatt", "Turkmenistan"),
    ("Hackensack", "Argentina"),
    ("Port Alvena", "Heard Island and McDonald Islands"),
    ("Oakland Park", "Cayman Islands"),
    ("Lake Simone", "Canada"),
    ("New Tristian", "Brazil"),
    ("Sayreville East", "Northern Mariana Islands"),
    ("Fresno", "Belgium"),
    ("Kelvinborough", "Germany"),
    ("Gaylordland", "Poland"),
    ("Rebekahmouth", "Greece"),
    ("Stockton", "Tunisia"),
    ("Aurora", "Mexico"),
    ("Rippinbury", "Spain"),
    ("Lake Alyson", "Denmark"),
    ("West Felix", "Netherlands"),
    ("Port Mariane", "Netherlands"),
)

DEPARTMENTS = (
    ("Sales", "Manchester"),
    ("Purchasing", "Manchester"),
    ("Production", "Leeds"),
    ("Dispatch", "Leeds"),
    ("Finance", "Manchester"),
    ("Facilities", "Manchester"),
    ("Communications", "Leeds"),
    ("HR", "Leeds"),
)

CURRENCY_CODES = ("GBP", "USD", "EUR")

DESIGN_WORDS = (
    "Wooden", "Steel", "Granite", "Bronze", "Soft", "Fresh", "Frozen", "Cotton", "Rubber",
    "Plastic", "Concrete", "Metal", "Bespoke", "Handmade", "Tasty", "Practical", "Small",
    "Sleek", "Rustic", "Generic", "Ergonomic", "Gorgeous", "Licensed", "Recycled",
)  # fmt: skip

FILE_LOCATIONS = (
    "/usr/share", "/private/var", "/System", "/Users", "/lost+found", "/opt", "/etc",
    "/root", "/home/user/dir", "/usr/local/src", "/Library", "/var/mail", "/usr/ports",
    "/srv", "/boot",
)  # fmt: skip
