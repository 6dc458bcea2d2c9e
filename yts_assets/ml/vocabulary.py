"""The category and country vocabularies of the Global YouTube Statistics 2023 dataset."""

CATEGORIES: frozenset[str] = frozenset({
    "Autos & Vehicles", "Comedy", "Education", "Entertainment", "Film & Animation", "Gaming",
    "Howto & Style", "Movies", "Music", "News & Politics", "Nonprofits & Activism", "People & Blogs",
    "Pets & Animals", "Science & Technology", "Shows", "Sports", "Trailers", "Travel & Events",
})
COUNTRIES: frozenset[str] = frozenset({
    "Afghanistan", "Andorra", "Argentina", "Australia", "Bangladesh", "Barbados", "Brazil", "Canada",
    "Chile", "China", "Colombia", "Cuba", "Ecuador", "Egypt", "El Salvador", "Finland", "France",
    "Germany", "India", "Indonesia", "Iraq", "Italy", "Japan", "Jordan", "Kuwait", "Latvia", "Malaysia",
    "Mexico", "Morocco", "Netherlands", "Pakistan", "Peru", "Philippines", "Russia", "Samoa",
    "Saudi Arabia", "Singapore", "South Korea", "Spain", "Sweden", "Switzerland", "Thailand", "Turkey",
    "Ukraine", "United Arab Emirates", "United Kingdom", "United States", "Venezuela", "Vietnam",
})
