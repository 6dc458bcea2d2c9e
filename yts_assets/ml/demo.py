"""A deterministic synthetic stand-in for the Kaggle CSV: same 28 columns, types and quirks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .dataset import RAW_COLUMNS

DEMO_ROWS = 995
DEMO_SEED = 2023

CATEGORIES = {
    "Entertainment": 241, "Music": 202, "People & Blogs": 132, "Gaming": 94, "Comedy": 69,
    "Film & Animation": 46, "Education": 45, "Howto & Style": 40, "News & Politics": 26,
    "Science & Technology": 17, "Shows": 13, "Sports": 11, "Pets & Animals": 4, "Trailers": 2,
    "Nonprofits & Activism": 2, "Movies": 2, "Autos & Vehicles": 2, "Travel & Events": 1,
}
CHANNEL_TYPE = {
    "Entertainment": "Entertainment", "Music": "Music", "People & Blogs": "People", "Gaming": "Games",
    "Comedy": "Comedy", "Film & Animation": "Film", "Education": "Education", "Howto & Style": "Howto",
    "News & Politics": "News", "Science & Technology": "Tech", "Shows": "Entertainment",
    "Sports": "Sports", "Pets & Animals": "Animals", "Trailers": "Film", "Nonprofits & Activism": "Nonprofit",
    "Movies": "Film", "Autos & Vehicles": "Autos", "Travel & Events": "People",
}
# name: (abbreviation, weight, tertiary %, population, unemployment %, urban population, lat, lon, earnings factor)
COUNTRIES = {
    "United States": ("US", 313, 88.2, 328239523, 14.70, 270663028, 37.09, -95.71, 1.6),
    "India": ("IN", 168, 28.1, 1366417754, 5.36, 471031528, 20.59, 78.96, 0.8),
    "Brazil": ("BR", 62, 51.3, 212559417, 12.08, 183241641, -14.24, -51.93, 0.9),
    "United Kingdom": ("GB", 43, 60.0, 66834405, 3.85, 55908316, 55.38, -3.44, 1.4),
    "Mexico": ("MX", 33, 40.2, 126014024, 3.42, 102626859, 23.63, -102.55, 0.9),
    "Indonesia": ("ID", 28, 36.3, 270203917, 4.69, 151509724, -0.79, 113.92, 0.7),
    "Spain": ("ES", 22, 88.9, 47076781, 13.96, 37927409, 40.46, -3.75, 1.2),
    "Thailand": ("TH", 18, 49.3, 69625582, 0.75, 35294600, 15.87, 100.99, 0.8),
    "South Korea": ("KR", 17, 94.3, 51709098, 4.15, 42106719, 35.91, 127.77, 1.3),
    "Russia": ("RU", 16, 81.9, 144373535, 4.59, 107683889, 61.52, 105.32, 0.9),
    "Canada": ("CA", 15, 68.9, 36991981, 5.56, 30628482, 56.13, -106.35, 1.4),
    "Argentina": ("AR", 13, 90.0, 44938712, 9.79, 41339571, -38.42, -63.62, 0.9),
    "Philippines": ("PH", 12, 35.5, 108116615, 2.15, 50975903, 12.88, 121.77, 0.7),
    "Colombia": ("CO", 11, 55.3, 50339443, 9.71, 40827302, 4.57, -74.30, 0.8),
    "Saudi Arabia": ("SA", 9, 68.0, 34268528, 5.93, 28807838, 23.89, 45.08, 1.2),
    "Ukraine": ("UA", 8, 82.7, 44385155, 8.88, 30835699, 48.38, 31.17, 0.7),
    "Pakistan": ("PK", 6, 9.0, 216565318, 4.45, 79927762, 30.38, 69.35, 0.6),
    "Germany": ("DE", 6, 70.2, 83132799, 3.04, 64324835, 51.17, 10.45, 1.4),
    "France": ("FR", 5, 65.6, 67059887, 8.43, 54123364, 46.23, 2.21, 1.3),
    "Japan": ("JP", 5, 63.2, 126226568, 2.29, 115782416, 36.20, 138.25, 1.3),
    "Turkey": ("TR", 4, 23.9, 83429615, 13.49, 63097818, 38.96, 35.24, 0.8),
    "Sweden": ("SE", 4, 67.0, 10285453, 6.48, 9021165, 60.13, 18.64, 1.3),
    "Chile": ("CL", 3, 88.5, 18952038, 7.09, 16610135, -35.68, -71.54, 0.9),
    "Australia": ("AU", 3, 113.1, 25766605, 5.27, 21844756, -25.27, 133.78, 1.4),
}
NAME_PARTS = (
    ["Super", "Daily", "Happy", "Golden", "Mega", "Little", "Crazy", "Royal", "Smart", "Funny",
     "Epic", "Magic", "Urban", "Wild", "Music", "Kids", "Canal", "Tech", "Ultra", "Pixel"],
    ["Tunes", "Gamer", "Studio", "Vlogs", "Kitchen", "TV", "Show", "Beats", "Toys", "Hub",
     "Family", "Stories", "Films", "Lab", "Life", "Sports", "News", "Dance", "Comedy", "Música"],
)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _with_missing(rng: np.random.Generator, values: np.ndarray, count: int) -> np.ndarray:
    values = values.astype(object)
    values[rng.choice(len(values), size=count, replace=False)] = np.nan
    return values


def _rank(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(ascending=False, method="first").to_numpy()


def generate_demo_frame(rows: int = DEMO_ROWS, seed: int = DEMO_SEED) -> pd.DataFrame:
    """Same seed, same frame. Subscribers carry little signal, earnings a lot, as in the real data."""
    rng = np.random.default_rng(seed)
    subscribers = np.sort(np.round(np.minimum(12.3e6 * (1 + rng.pareto(2.2, rows)), 2.4e8), -5))[::-1]
    subscribers[0] = 245e6
    categories = rng.choice(list(CATEGORIES), size=rows, p=np.array(list(CATEGORIES.values())) / sum(CATEGORIES.values()))
    country_names = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][1] for c in country_names], dtype=float)
    countries = rng.choice(country_names, size=rows, p=weights / weights.sum())
    country_info = pd.DataFrame([COUNTRIES[c] for c in countries],
                                columns=["abbr", "w", "edu", "pop", "unemp", "urban", "lat", "lon", "earn"])

    uploads = np.round(np.exp(rng.normal(6.6, 1.8, rows))).clip(0, 301308)
    uploads[rng.choice(rows, size=8, replace=False)] = 0
    created_year = rng.integers(2005, 2023, rows).astype(float)
    age = 2023 - created_year
    category_boost = np.where(np.isin(categories, ["Music", "Entertainment", "Shows"]), 0.5, 0.0)
    log_views = np.log(subscribers) + rng.normal(5.8, 0.6, rows)
    video_views = np.round(np.exp(log_views), -3)
    log_earn = 8.0 + 0.55 * np.log1p(uploads) + np.log(country_info["earn"].to_numpy()) + category_boost + rng.normal(0, 0.9, rows)
    highest_yearly = np.round(np.exp(log_earn), -2)
    zero_earnings = rng.choice(rows, size=6, replace=False)
    highest_yearly[zero_earnings] = 0
    video_views[zero_earnings[:6]] = 0
    lowest_yearly = np.round(highest_yearly / 16, 2)
    growth = np.round(np.exp(10.5 + 0.35 * np.log1p(uploads) - 0.08 * age + rng.normal(0, 0.8, rows)), -3)

    names = [f"{rng.choice(NAME_PARTS[0])} {rng.choice(NAME_PARTS[1])} {i + 1}" for i in range(rows)]
    frame = pd.DataFrame({
        "rank": np.arange(1, rows + 1),
        "Youtuber": names,
        "subscribers": subscribers.astype(np.int64),
        "video views": video_views,
        "category": _with_missing(rng, categories, 46),
        "Title": names,
        "uploads": uploads.astype(np.int64),
        "Country": countries,
        "Abbreviation": country_info["abbr"].to_numpy(),
        "channel_type": _with_missing(rng, np.array([CHANNEL_TYPE[c] for c in categories]), 30),
        "video_views_rank": _rank(video_views),
        "country_rank": pd.Series(subscribers).groupby(countries).rank(ascending=False, method="first").to_numpy(),
        "channel_type_rank": pd.Series(subscribers).groupby(categories).rank(ascending=False, method="first").to_numpy(),
        "video_views_for_the_last_30_days": _with_missing(rng, np.round(video_views * rng.uniform(0.002, 0.05, rows), -3), 56),
        "lowest_monthly_earnings": np.round(lowest_yearly / 12, 2),
        "highest_monthly_earnings": np.round(highest_yearly / 12, 2),
        "lowest_yearly_earnings": lowest_yearly,
        "highest_yearly_earnings": highest_yearly,
        "subscribers_for_last_30_days": _with_missing(rng, growth, 337),
        "created_year": created_year,
        "created_month": rng.choice(MONTHS, rows),
        "created_date": rng.integers(1, 29, rows).astype(float),
        "Gross tertiary education enrollment (%)": country_info["edu"].to_numpy(),
        "Population": country_info["pop"].to_numpy(dtype=float),
        "Unemployment rate": country_info["unemp"].to_numpy(),
        "Urban_population": country_info["urban"].to_numpy(dtype=float),
        "Latitude": country_info["lat"].to_numpy(),
        "Longitude": country_info["lon"].to_numpy(),
    })
    no_country = rng.choice(rows, size=122, replace=False)
    country_columns = ["Country", "Abbreviation", "country_rank", "Gross tertiary education enrollment (%)",
                       "Population", "Unemployment rate", "Urban_population", "Latitude", "Longitude"]
    frame[country_columns] = frame[country_columns].astype(object)
    frame.loc[no_country, country_columns] = np.nan
    no_created = rng.choice(rows, size=5, replace=False)
    frame[["created_month"]] = frame[["created_month"]].astype(object)
    frame.loc[no_created, ["created_year", "created_month", "created_date"]] = np.nan
    frame.loc[rows // 2, "created_year"] = 1970
    return frame[list(RAW_COLUMNS)]


def demo_csv_bytes(rows: int = DEMO_ROWS, seed: int = DEMO_SEED) -> bytes:
    """latin-1, with missing values written as the text `nan`, like the Kaggle file."""
    text = generate_demo_frame(rows, seed).to_csv(index=False, na_rep="nan", lineterminator="\n")
    return text.encode("latin-1")
