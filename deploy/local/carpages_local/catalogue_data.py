"""Reference data for the demo catalogue: Indian-market makes, models, variants, cities, features.

Prices are used-car asking ranges in lakh INR (1 lakh = 100,000). A model's variants are grouped
by fuel as "p:LXI|VXI;d:LDI|VDI" (p petrol, d diesel, c cng, e electric, h hybrid, l lpg); the
first group is the model's dominant fuel. A variant named in several groups exists once.
"""

from __future__ import annotations

from typing import NamedTuple

FUEL_CODES = {"p": "petrol", "d": "diesel", "c": "cng", "e": "electric", "h": "hybrid",
              "l": "lpg"}
FUEL_TYPES = ("petrol", "diesel", "cng", "electric", "hybrid", "lpg")
TRANSMISSIONS = ("manual", "automatic")
FUEL_WEIGHTS = {"petrol": 2.0, "diesel": 2.0, "electric": 2.0, "cng": 1.2, "hybrid": 1.0,
                "lpg": 0.25}
"""Relative share of a model's secondary fuels; its dominant (first) fuel weighs 4."""
AUTO_TOKENS = frozenset({"AT", "AMT", "AGS", "CVT", "IVT", "DCT", "DSG"})
"""Words marking an automatic variant; luxury, electric and hybrid cars always are automatic."""
FIRST_YEAR, LAST_YEAR = 2008, 2024


class ModelSpec(NamedTuple):
    """One model: body type, used-price range (lakh), years on sale, popularity, variants."""

    name: str
    body: str
    lo: float
    hi: float
    first: int
    last: int
    weight: int
    variants: tuple[tuple[str, tuple[str, ...]], ...]  # (fuel, variant names), dominant first


def _m(name: str, body: str, lo: float, hi: float, first: int, last: int, weight: int,
       variants: str) -> ModelSpec:
    groups = tuple((FUEL_CODES[g[0]], tuple(g[2:].split("|"))) for g in variants.split(";"))
    return ModelSpec(name, body, lo, hi, max(first, FIRST_YEAR), min(last, LAST_YEAR), weight,
                     groups)


MAKES: tuple[tuple[str, tuple[ModelSpec, ...]], ...] = (
    ("Maruti Suzuki", (
        _m("Swift", "hatchback", 3.5, 8, 2008, 2024, 10,
           "p:LXI|VXI|ZXI|ZXI+|VXI AMT|ZXI AMT|ZXI+ AMT;d:LDI|VDI|ZDI|ZDI+;c:VXI CNG"),
        _m("Baleno", "hatchback", 4.5, 9, 2015, 2024, 9,
           "p:Sigma|Delta|Zeta|Alpha|Delta AGS|Zeta AGS|Alpha AGS;d:Delta|Zeta|Alpha;c:Delta CNG"),
        _m("Dzire", "sedan", 4, 9, 2008, 2024, 8,
           "p:LXI|VXI|ZXI|ZXI+|VXI AMT|ZXI+ AMT;d:LDI|VDI|ZDI|ZDI+;c:VXI CNG|ZXI CNG"),
        _m("Wagon R", "hatchback", 2, 6.5, 2008, 2024, 8,
           "p:LXI|VXI|ZXI|VXI AGS|ZXI+ AGS;c:LXI CNG|VXI CNG;l:LXI LPG"),
        _m("Alto 800", "hatchback", 1.5, 4, 2012, 2023, 7, "p:STD|LXI|VXI|LXI (O);c:LXI CNG"),
        _m("Alto K10", "hatchback", 2, 5, 2010, 2024, 5, "p:LXI|VXI|VXI+|VXI AGS;c:VXI CNG"),
        _m("Ertiga", "muv", 6, 12, 2012, 2024, 6,
           "p:LXI|VXI|ZXI|ZXI+|VXI AT|ZXI AT;d:VDI|ZDI|ZDI+;c:VXI CNG|ZXI CNG"),
        _m("Vitara Brezza", "compact-suv", 6, 11, 2016, 2022, 6,
           "d:LDI|VDI|ZDI|ZDI+;p:LXI|VXI|ZXI|ZXI+|VXI AT|ZXI+ AT"),
        _m("Brezza", "compact-suv", 8, 14, 2022, 2024, 5,
           "p:LXI|VXI|ZXI|ZXI+|VXI AT|ZXI+ AT;c:VXI CNG|ZXI CNG"),
        _m("Ciaz", "sedan", 5, 11, 2014, 2024, 3,
           "p:Sigma|Delta|Zeta|Alpha|Delta AT|Alpha AT;d:Delta|Zeta|Alpha"),
        _m("Celerio", "hatchback", 3, 6.5, 2014, 2024, 4,
           "p:LXI|VXI|ZXI|ZXI+|VXI AMT|ZXI AMT;c:VXI CNG"),
        _m("Ignis", "hatchback", 4, 7, 2017, 2024, 2,
           "p:Sigma|Delta|Zeta|Alpha|Delta AMT|Zeta AMT|Alpha AMT"),
        _m("S-Presso", "hatchback", 3, 5.5, 2019, 2024, 2, "p:STD|LXI|VXI|VXI+|VXI AGS;c:VXI CNG"),
        _m("XL6", "muv", 9, 14, 2019, 2024, 2, "p:Zeta|Alpha|Alpha+|Zeta AT|Alpha+ AT;c:Zeta CNG"),
        _m("Grand Vitara", "suv", 11, 19, 2022, 2024, 3,
           "p:Sigma|Delta|Zeta|Alpha|Alpha AT;h:Zeta+ Hybrid|Alpha+ Hybrid;c:Delta CNG"),
        _m("Fronx", "compact-suv", 7, 12, 2023, 2024, 2,
           "p:Sigma|Delta|Delta+|Zeta|Alpha|Delta AMT|Alpha AT;c:Sigma CNG|Delta CNG"),
        _m("Eeco", "muv", 3, 5.5, 2010, 2024, 2, "p:5 Seater STD|7 Seater STD|5 Seater AC;c:5 "
           "Seater AC CNG"),
        _m("Ritz", "hatchback", 2, 4, 2009, 2016, 1, "p:LXI|VXI|ZXI;d:LDI|VDI|ZDI"),
        _m("S-Cross", "suv", 6, 12, 2015, 2022, 1,
           "d:Sigma|Delta|Zeta|Alpha;p:Delta|Zeta|Alpha|Zeta AT|Alpha AT"),
        _m("Jimny", "suv", 11, 15, 2023, 2024, 1, "p:Zeta|Alpha|Zeta AT|Alpha AT"))),
    ("Hyundai", (
        _m("Creta", "suv", 7, 19, 2015, 2024, 9,
           "p:E|EX|S|SX|SX (O)|SX IVT|SX (O) DCT;d:E|EX|S|SX|SX (O)|SX AT|SX (O) AT"),
        _m("i20", "hatchback", 3.5, 10, 2008, 2024, 7,
           "p:Magna|Sportz|Asta|Asta (O)|Asta IVT|Asta (O) DCT;d:Magna|Sportz|Asta|Asta (O)"),
        _m("Venue", "compact-suv", 6.5, 13, 2019, 2024, 6,
           "p:E|S|S (O)|SX|SX (O)|SX DCT|SX (O) DCT;d:S|SX|SX (O)"),
        _m("Grand i10", "hatchback", 3, 6.5, 2013, 2020, 5,
           "p:Era|Magna|Sportz|Asta|Sportz AT;d:Magna|Sportz|Asta;c:Magna CNG"),
        _m("Grand i10 Nios", "hatchback", 5, 8, 2019, 2024, 4,
           "p:Era|Magna|Sportz|Asta|Sportz AMT|Asta AMT;c:Magna CNG|Sportz CNG"),
        _m("Verna", "sedan", 4, 16, 2008, 2024, 4,
           "p:E|EX|S|SX|SX (O)|SX IVT|SX (O) DCT;d:EX|S|SX|SX (O)|SX AT"),
        _m("Santro", "hatchback", 2, 5, 2008, 2022, 3,
           "p:D-Lite|Era|Magna|Sportz|Asta|Sportz AMT;c:Magna CNG|Sportz CNG"),
        _m("i10", "hatchback", 1.8, 4, 2008, 2016, 3, "p:D-Lite|Era|Magna|Sportz|Asta|Sportz AT;"
           "l:Magna LPG"),
        _m("Aura", "sedan", 5.5, 8.5, 2020, 2024, 2, "p:E|S|SX|SX (O)|SX AMT;c:S CNG|SX CNG"),
        _m("Xcent", "sedan", 3, 6, 2014, 2020, 2, "p:E|S|SX|SX (O)|S AT;d:E+|S|SX"),
        _m("Alcazar", "suv", 14, 21, 2021, 2024, 2,
           "d:Prestige|Platinum|Signature|Platinum AT|Signature AT;p:Prestige|Platinum AT"),
        _m("Tucson", "suv", 14, 32, 2016, 2024, 1, "d:GL|GLS|Platinum AT|Signature AT;p:GL|GLS"),
        _m("Elantra", "sedan", 6, 18, 2012, 2022, 1, "p:S|SX|SX AT;d:SX|SX AT"),
        _m("Kona Electric", "compact-suv", 12, 20, 2019, 2024, 1, "e:Premium|Premium Dual Tone"),
        _m("Ioniq 5", "suv", 35, 45, 2023, 2024, 1, "e:Long Range RWD"))),
    ("Tata", (
        _m("Nexon", "compact-suv", 6, 14, 2017, 2024, 12,
           "p:XE|XM|XM+|XZ|XZ+|XZ+ (O)|XMA AMT|XZA+ AMT;d:XM|XZ|XZ+|XZA+ AMT"),
        _m("Nexon EV", "compact-suv", 9, 17, 2020, 2024, 3,
           "e:XM|XZ+|XZ+ Lux|Max XZ+|Max XZ+ Lux"),
        _m("Tiago", "hatchback", 3.5, 7.5, 2016, 2024, 6,
           "p:XE|XM|XT|XZ|XZ+|XTA AMT|XZA+ AMT;c:XE CNG|XM CNG|XZ+ CNG"),
        _m("Punch", "compact-suv", 5.5, 9.5, 2021, 2024, 5,
           "p:Pure|Adventure|Accomplished|Creative|Adventure AMT|Creative AMT;c:Pure CNG"),
        _m("Altroz", "hatchback", 5.5, 9.5, 2020, 2024, 4,
           "p:XE|XM|XM+|XT|XZ|XZ+|XZA AMT;d:XE|XM+|XZ;c:XM+ CNG|XZ CNG"),
        _m("Harrier", "suv", 12, 24, 2019, 2024, 4,
           "d:XE|XM|XT|XZ|XZ+|XZA+ AT|Fearless+ AT"),
        _m("Safari", "suv", 14, 26, 2021, 2024, 3, "d:XE|XM|XT|XZ|XZ+|XZA+ AT|Accomplished+ AT"),
        _m("Tigor", "sedan", 4.5, 8, 2017, 2024, 2, "p:XE|XM|XZ|XZ+|XZA AMT;c:XM CNG|XZ CNG"),
        _m("Tiago EV", "hatchback", 7, 11, 2023, 2024, 1, "e:XE MR|XT MR|XZ+ LR|XZ+ Tech Lux LR"),
        _m("Hexa", "muv", 7, 14, 2017, 2020, 1, "d:XE|XM|XT|XMA AT|XTA AT"),
        _m("Indica", "hatchback", 0.8, 2.5, 2008, 2018, 1, "d:DLE|DLS|LX|V2"))),
    ("Mahindra", (
        _m("XUV700", "suv", 14, 27, 2021, 2024, 6,
           "d:MX|AX3|AX5|AX7|AX7 L|AX5 AT|AX7 AT|AX7 L AT;p:MX|AX5|AX7 AT"),
        _m("Scorpio", "suv", 4, 17, 2008, 2024, 6, "d:S3|S5|S7|S9|S11|S10 AT"),
        _m("Thar", "suv", 4, 17, 2010, 2024, 4, "d:CRDe|DI|AX (O)|LX|LX AT;p:LX|LX AT"),
        _m("Bolero", "muv", 4, 9.5, 2008, 2024, 4, "d:B4|B6|B6 (O)|SLE|ZLX|Power+ SLX"),
        _m("XUV500", "suv", 5, 17, 2011, 2021, 3, "d:W6|W8|W10|W8 (O)|W10 AT|W11 (O)"),
        _m("XUV300", "compact-suv", 6.5, 12, 2019, 2024, 3,
           "p:W4|W6|W8|W8 (O)|W6 AMT;d:W4|W6|W8|W8 (O)|W8 AMT"),
        _m("Scorpio-N", "suv", 13, 24, 2022, 2024, 3, "d:Z2|Z4|Z6|Z8|Z8 L|Z8 L AT;p:Z4|Z8 AT"),
        _m("KUV100", "compact-suv", 3.5, 6.5, 2016, 2021, 1, "p:K2+|K4+|K6+|K8;d:K4+|K6+|K8"),
        _m("Marazzo", "muv", 8, 13, 2018, 2024, 1, "d:M2|M4|M4+|M6|M8"),
        _m("XUV400", "compact-suv", 13, 17, 2023, 2024, 1, "e:EC|EL|EL Pro"))),
    ("Honda", (
        _m("City", "sedan", 3.5, 14, 2008, 2024, 7,
           "p:S|SV|V|VX|ZX|V CVT|VX CVT|ZX CVT;d:SV|V|VX|ZX;h:ZX e:HEV"),
        _m("Amaze", "sedan", 3.5, 8.5, 2013, 2024, 5, "p:E|S|V|VX|S CVT|VX CVT;d:E|S|V|VX"),
        _m("Jazz", "hatchback", 3.5, 8.5, 2009, 2023, 3, "p:E|S|V|VX|ZX|V CVT|ZX CVT;d:S|V|VX"),
        _m("WR-V", "compact-suv", 5.5, 10, 2017, 2023, 2, "p:SV|VX;d:SV|VX"),
        _m("Elevate", "suv", 11, 16, 2023, 2024, 2, "p:SV|V|VX|ZX|V CVT|ZX CVT"),
        _m("Civic", "sedan", 4, 20, 2008, 2021, 1, "p:V|VX|ZX|VX CVT|ZX CVT;d:VX|ZX"),
        _m("Brio", "hatchback", 2.5, 5, 2011, 2019, 2, "p:E|S|V|VX|VX AT"))),
    ("Toyota", (
        _m("Innova Crysta", "muv", 12, 28, 2016, 2024, 6,
           "d:G|GX|VX|ZX|GX AT|ZX AT;p:GX|GX AT"),
        _m("Fortuner", "suv", 20, 45, 2009, 2024, 5,
           "d:4x2|4x2 AT|4x4|4x4 AT|Legender 4x2 AT|Legender 4x4 AT;p:4x2|4x2 AT"),
        _m("Innova", "muv", 4, 12, 2008, 2016, 3, "d:G|GX|V|VX|ZX"),
        _m("Innova Hycross", "muv", 19, 32, 2023, 2024, 2,
           "h:VX Hybrid|ZX Hybrid|ZX (O) Hybrid;p:G|GX"),
        _m("Glanza", "hatchback", 6, 10, 2019, 2024, 2, "p:E|S|G|V|S AMT|G AMT;c:S CNG|G CNG"),
        _m("Urban Cruiser Hyryder", "suv", 11, 19, 2022, 2024, 2,
           "p:E|S|G|V|V AT;h:S Hybrid|G Hybrid|V Hybrid;c:S CNG|G CNG"),
        _m("Etios", "sedan", 3, 6.5, 2011, 2020, 2, "p:G|V|VX;d:GD|VD|VXD"),
        _m("Etios Liva", "hatchback", 2.5, 5, 2011, 2020, 1, "p:G|GX|V|VX;d:GD|VD"),
        _m("Corolla Altis", "sedan", 4, 18, 2008, 2020, 1, "p:J|G|GL|G AT|VL AT;d:J|GL|D-4D"),
        _m("Yaris", "sedan", 6, 11, 2018, 2021, 1, "p:J|G|V|VX|G CVT|VX CVT"),
        _m("Camry", "luxury-sedan", 12, 42, 2008, 2024, 1, "h:2.5 Hybrid;p:2.5 AT"))),
    ("Kia", (
        _m("Seltos", "suv", 9, 20, 2019, 2024, 7,
           "p:HTE|HTK|HTK+|HTX|HTX+|HTX IVT|GTX+ DCT;d:HTE|HTK|HTK+|HTX|HTX+|HTX+ AT|GTX+ AT"),
        _m("Sonet", "compact-suv", 7, 14, 2020, 2024, 4,
           "p:HTE|HTK|HTK+|HTX|HTX DCT|GTX+ DCT;d:HTE|HTK+|HTX|HTX+ AT|GTX+ AT"),
        _m("Carens", "muv", 10, 19, 2022, 2024, 2,
           "p:Premium|Prestige|Prestige+|Luxury|Luxury+ DCT;d:Premium|Prestige|Luxury+ AT"),
        _m("Carnival", "muv", 20, 35, 2020, 2024, 1, "d:Premium AT|Prestige AT|Limousine AT"),
        _m("EV6", "luxury-suv", 45, 60, 2022, 2024, 1, "e:GT Line|GT Line AWD"))),
    ("MG", (
        _m("Hector", "suv", 11, 21, 2019, 2024, 4,
           "p:Style|Super|Smart|Sharp|Sharp DCT|Savvy Pro CVT;d:Style|Super|Smart|Sharp;"
           "h:Smart Hybrid|Sharp Hybrid"),
        _m("Hector Plus", "suv", 14, 22, 2020, 2024, 2,
           "p:Smart|Sharp|Sharp DCT;d:Super|Smart|Sharp"),
        _m("Astor", "suv", 9, 16, 2021, 2024, 2, "p:Style|Super|Smart|Sharp|Sharp CVT|Savvy AT"),
        _m("Gloster", "suv", 28, 40, 2020, 2024, 1, "d:Super|Smart|Sharp AT|Savvy AT"),
        _m("ZS EV", "suv", 15, 23, 2020, 2024, 1, "e:Excite|Exclusive|Exclusive Pro"),
        _m("Comet EV", "hatchback", 6, 9, 2023, 2024, 1, "e:Pace|Play|Plush"))),
    ("Skoda", (
        _m("Rapid", "sedan", 4, 10, 2011, 2021, 2,
           "p:Active|Ambition|Style|Rider|Ambition AT|Style AT;d:Active|Ambition|Style|Style AT"),
        _m("Octavia", "sedan", 6, 26, 2008, 2024, 2,
           "p:Ambition|Style|Style AT|L&K AT;d:Ambition|Style|L&K AT"),
        _m("Kushaq", "suv", 10, 17, 2021, 2024, 2,
           "p:Active|Ambition|Style|Monte Carlo|Ambition AT|Style DSG|Monte Carlo DSG"),
        _m("Slavia", "sedan", 10, 17, 2022, 2024, 2,
           "p:Active|Ambition|Style|Ambition AT|Style DSG"),
        _m("Superb", "luxury-sedan", 8, 32, 2009, 2024, 1,
           "p:Style AT|L&K AT|Sportline AT;d:Style AT|L&K AT"),
        _m("Kodiaq", "suv", 22, 38, 2017, 2024, 1, "d:Style AT|L&K AT;p:Style AT|Sportline AT"))),
    ("Volkswagen", (
        _m("Polo", "hatchback", 3, 8, 2010, 2022, 4,
           "p:Trendline|Comfortline|Highline|Highline+|GT TSI DSG;d:Trendline|Comfortline|"
           "Highline"),
        _m("Vento", "sedan", 3.5, 10, 2010, 2022, 2,
           "p:Trendline|Comfortline|Highline|Highline AT;d:Comfortline|Highline|Highline AT"),
        _m("Taigun", "suv", 10, 17, 2021, 2024, 2,
           "p:Comfortline|Highline|Topline|Topline AT|GT|GT DSG"),
        _m("Virtus", "sedan", 10, 17, 2022, 2024, 2,
           "p:Comfortline|Highline|Topline|Topline AT|GT DSG"),
        _m("Tiguan", "suv", 20, 33, 2017, 2024, 1, "d:Comfortline AT|Highline AT;p:Elegance AT"),
        _m("Ameo", "sedan", 3, 6, 2016, 2020, 1, "p:Trendline|Comfortline|Highline;d:Highline|"
           "Highline AT"))),
    ("Renault", (
        _m("Kwid", "hatchback", 2, 5, 2015, 2024, 5,
           "p:STD|RXE|RXL|RXT|Climber|RXT AMT|Climber AMT"),
        _m("Duster", "suv", 4, 11, 2012, 2022, 3, "d:RxE|RxL|RxS|RxZ|RxZ AWD;p:RxE|RxS|RxS CVT"),
        _m("Triber", "muv", 5, 8.5, 2019, 2024, 3, "p:RXE|RXL|RXT|RXZ|RXT AMT|RXZ AMT"),
        _m("Kiger", "compact-suv", 5.5, 10, 2021, 2024, 2, "p:RXE|RXL|RXT|RXZ|RXT AMT|RXZ CVT"))),
    ("Nissan", (
        _m("Magnite", "compact-suv", 5.5, 10, 2020, 2024, 3,
           "p:XE|XL|XV|XV Premium|XV CVT|XV Premium CVT"),
        _m("Micra", "hatchback", 2, 5, 2010, 2020, 2, "p:XE|XL|XV|XL CVT|XV CVT;d:XL|XV"),
        _m("Kicks", "suv", 7, 12, 2019, 2023, 1, "p:XL|XV|XV Premium|XV Premium CVT;d:XL|XV"),
        _m("Sunny", "sedan", 2.5, 6.5, 2011, 2020, 1, "p:XE|XL|XV|XV CVT;d:XE|XL|XV"),
        _m("Terrano", "suv", 4, 9, 2013, 2020, 1, "d:XE|XL|XV|XV Premium|XV AMT;p:XE|XL"))),
    ("Ford", (
        _m("EcoSport", "compact-suv", 4, 11, 2013, 2022, 4,
           "p:Ambiente|Trend|Titanium|Titanium+|Titanium AT;d:Ambiente|Trend|Titanium|Sports"),
        _m("Figo", "hatchback", 2, 6.5, 2010, 2022, 3,
           "p:Ambiente|Trend|Titanium|Titanium AT;d:Ambiente|Trend|Titanium"),
        _m("Endeavour", "suv", 10, 38, 2008, 2022, 2,
           "d:Trend|Trend AT|Titanium AT|Titanium+ 4x4 AT|Sport AT"),
        _m("Aspire", "sedan", 3, 7, 2015, 2021, 1, "p:Ambiente|Trend|Titanium;d:Trend|Titanium+"),
        _m("Freestyle", "hatchback", 4.5, 7.5, 2018, 2022, 1,
           "p:Ambiente|Trend|Titanium|Flair;d:Ambiente|Titanium|Flair"),
        _m("Fiesta", "sedan", 2, 6, 2008, 2019, 1, "p:Ambiente|Trend|Titanium|Titanium AT;"
           "d:Trend|Titanium"))),
    ("Jeep", (
        _m("Compass", "suv", 11, 28, 2017, 2024, 3,
           "d:Sport|Longitude|Limited|Limited (O)|Model S AT|Trailhawk AT;p:Sport|Longitude DCT"),
        _m("Meridian", "suv", 28, 36, 2022, 2024, 1, "d:Limited|Limited (O)|Limited (O) AT|"
           "Overland AT"),
        _m("Wrangler", "luxury-suv", 45, 60, 2019, 2024, 1, "p:Unlimited|Rubicon"))),
    ("BMW", (
        _m("3 Series", "luxury-sedan", 8, 55, 2008, 2024, 2,
           "d:320d Luxury Line|320d Sport|320d M Sport;p:320i Sport|330i M Sport|330Li M Sport"),
        _m("5 Series", "luxury-sedan", 10, 65, 2008, 2024, 1,
           "d:520d Luxury Line|520d M Sport|530d M Sport;p:530i M Sport"),
        _m("X1", "luxury-suv", 8, 45, 2010, 2024, 2,
           "d:sDrive20d xLine|sDrive20d M Sport;p:sDrive18i xLine|sDrive20i SportX"),
        _m("X3", "luxury-suv", 15, 65, 2011, 2024, 1,
           "d:xDrive20d Luxury Line|xDrive20d M Sport;p:xDrive30i SportX"),
        _m("X5", "luxury-suv", 18, 95, 2008, 2024, 1, "d:xDrive30d|xDrive30d M Sport;"
           "p:xDrive40i M Sport"),
        _m("7 Series", "luxury-sedan", 18, 150, 2008, 2024, 1, "d:730Ld|740Ld;p:740Li M Sport"),
        _m("iX", "luxury-suv", 90, 120, 2022, 2024, 1, "e:xDrive40|xDrive50"))),
    ("Mercedes-Benz", (
        _m("C-Class", "luxury-sedan", 8, 55, 2008, 2024, 2,
           "d:C 220 CDI|C 220d Avantgarde|C 220d Progressive|C 300d AMG Line;"
           "p:C 200 Avantgarde|C 200 Progressive|C 300 AMG Line"),
        _m("E-Class", "luxury-sedan", 12, 75, 2008, 2024, 2,
           "d:E 250 CDI|E 220d Exclusive|E 350d Exclusive;p:E 200 Expression|E 200 Exclusive"),
        _m("GLA", "luxury-suv", 14, 45, 2014, 2024, 1,
           "d:200 CDI|200d Sport|220d 4MATIC;p:200 Style|200 Sport"),
        _m("GLC", "luxury-suv", 25, 70, 2016, 2024, 1,
           "d:220d 4MATIC|220d 4MATIC Progressive|300d 4MATIC;p:300 4MATIC"),
        _m("GLE", "luxury-suv", 28, 95, 2015, 2024, 1, "d:250d|350d|300d 4MATIC LWB|400d 4MATIC;"
           "p:450 4MATIC LWB"),
        _m("S-Class", "luxury-sedan", 30, 160, 2008, 2024, 1, "d:S 350 CDI|S 350d;p:S 400|"
           "S 450 4MATIC"))),
    ("Audi", (
        _m("A4", "luxury-sedan", 7, 45, 2008, 2024, 2,
           "d:2.0 TDI Premium Plus|35 TDI Technology;p:1.8 TFSI|40 TFSI Premium Plus|"
           "40 TFSI Technology"),
        _m("A6", "luxury-sedan", 10, 60, 2008, 2024, 1,
           "d:2.0 TDI Premium|35 TDI Matrix;p:45 TFSI Premium Plus|45 TFSI Technology"),
        _m("Q3", "luxury-suv", 10, 45, 2012, 2024, 2,
           "d:2.0 TDI quattro Premium Plus|35 TDI quattro Technology;p:40 TFSI Premium Plus"),
        _m("Q5", "luxury-suv", 14, 65, 2009, 2024, 1,
           "d:2.0 TDI quattro|40 TDI quattro Technology;p:45 TFSI Premium Plus|45 TFSI Technology"),
        _m("Q7", "luxury-suv", 15, 85, 2008, 2024, 1,
           "d:35 TDI quattro|45 TDI quattro Technology;p:55 TFSI Premium Plus|55 TFSI Technology"),
        _m("e-tron", "luxury-suv", 60, 100, 2021, 2024, 1,
           "e:50 quattro|55 quattro|Sportback 55 quattro"))),
    ("Land Rover", (
        _m("Range Rover Evoque", "luxury-suv", 15, 65, 2012, 2024, 1,
           "d:SE|HSE|R-Dynamic SE;p:SE|R-Dynamic SE"),
        _m("Discovery Sport", "luxury-suv", 20, 70, 2015, 2024, 1,
           "d:S|SE|HSE|HSE Luxury;p:S|SE|R-Dynamic SE"),
        _m("Range Rover Velar", "luxury-suv", 45, 90, 2017, 2024, 1,
           "d:R-Dynamic S|R-Dynamic SE|HSE;p:R-Dynamic S|R-Dynamic SE"),
        _m("Range Rover Sport", "luxury-suv", 30, 160, 2010, 2024, 1,
           "d:SE|HSE|HSE Dynamic|Autobiography;p:SE|HSE Dynamic"),
        _m("Defender", "luxury-suv", 70, 150, 2020, 2024, 1,
           "p:110 SE|110 HSE|90 X-Dynamic HSE;d:110 SE|110 X-Dynamic HSE"))),
    ("Volvo", (
        _m("XC60", "luxury-suv", 15, 65, 2009, 2024, 1,
           "d:D4 Kinetic|D5 Momentum|D5 Inscription;p:B5 Inscription|B5 Ultimate"),
        _m("XC90", "luxury-suv", 30, 95, 2008, 2024, 1,
           "d:D5 Momentum|D5 Inscription;p:B6 Ultimate;h:T8 Excellence Hybrid"),
        _m("XC40", "luxury-suv", 28, 45, 2018, 2024, 1,
           "p:B4 Momentum|B4 Inscription|B4 Ultimate;d:D4 R-Design"),
        _m("S60", "luxury-sedan", 10, 45, 2010, 2024, 1,
           "d:D4 Kinetic|D4 Summum;p:T4 Inscription|B5 Inscription"),
        _m("XC40 Recharge", "luxury-suv", 45, 55, 2022, 2024, 1,
           "e:P8 AWD|Ultimate Single Motor"))),
    ("Citroen", (
        _m("C3", "hatchback", 5, 9, 2022, 2024, 2, "p:Live|Feel|Feel Vibe Pack|Shine|Shine Turbo"),
        _m("eC3", "hatchback", 9, 12, 2023, 2024, 1, "e:Live|Feel|Shine"),
        _m("C3 Aircross", "suv", 9, 13, 2023, 2024, 1, "p:You|Plus|Max|Max Turbo AT"),
        _m("C5 Aircross", "suv", 25, 36, 2021, 2024, 1, "d:Feel AT|Shine AT|Shine Dual Tone AT"))),
    ("Fiat", (
        _m("Punto Evo", "hatchback", 1.8, 5, 2014, 2019, 1,
           "p:Active|Dynamic|Emotion;d:Active|Dynamic|Emotion|90HP Sport"),
        _m("Grande Punto", "hatchback", 1.5, 3.5, 2009, 2014, 1,
           "d:Active|Dynamic|Emotion;p:Active|Dynamic|Emotion"),
        _m("Linea", "sedan", 2, 6, 2009, 2018, 1, "d:Active|Dynamic|Emotion;p:Active|Emotion|"
           "T-Jet+"),
        _m("Avventura", "hatchback", 3, 6, 2014, 2019, 1, "d:Active|Dynamic|Emotion;p:Active|"
           "Dynamic"))),
    ("Datsun", (
        _m("redi-GO", "hatchback", 1.8, 4, 2016, 2022, 2, "p:D|A|T|T (O)|1.0 T (O) AMT"),
        _m("GO", "hatchback", 2, 4.5, 2014, 2022, 1, "p:D|A|T|T (O)|T CVT"),
        _m("GO+", "muv", 2.5, 5, 2015, 2022, 1, "p:D|A|T|T (O)|T CVT"))),
    ("Chevrolet", (
        _m("Beat", "hatchback", 1.5, 3.5, 2010, 2017, 2, "p:LS|LT|PS;d:LS|LT"),
        _m("Spark", "hatchback", 0.8, 2.2, 2008, 2017, 1, "p:LS|LT;l:LS LPG"),
        _m("Cruze", "sedan", 3, 8, 2009, 2017, 1, "d:LT|LTZ|LTZ AT"),
        _m("Sail", "sedan", 2, 4, 2012, 2017, 1, "p:LS|LT;d:LS|LT"),
        _m("Enjoy", "muv", 2.5, 5, 2013, 2017, 1, "d:LS 8 Seater|LT 7 Seater|LTZ 7 Seater;"
           "p:LS 7 Seater|LT 7 Seater"),
        _m("Tavera", "muv", 2, 5, 2008, 2017, 1,
           "d:LS B3 9 Seater|LT L 9 Seater|Neo 3 10 Seater"))),
    ("Isuzu", (
        _m("D-Max V-Cross", "pickup", 10, 25, 2016, 2024, 1,
           "d:Z 4x4|Z Prestige 4x4|Z Prestige 4x4 AT|Hi-Lander"),
        _m("MU-X", "suv", 18, 35, 2017, 2024, 1, "d:4x2 AT|4x4 AT"))),
    ("Force", (
        _m("Gurkha", "suv", 8, 15, 2013, 2024, 1, "d:Xplorer 3 Door|Xpedition 5 Door|4x4 3 Door|"
           "4x4 5 Door"),
        _m("Trax Cruiser", "muv", 4, 9, 2010, 2024, 1, "d:Deluxe 9 Seater|Deluxe 12 Seater|"
           "Deluxe 13 Seater"))),
    ("Lexus", (
        _m("ES", "luxury-sedan", 35, 60, 2018, 2024, 1, "h:300h Luxury|300h Exquisite"),
        _m("NX", "luxury-suv", 45, 65, 2018, 2024, 1, "h:300h Exquisite|350h Luxury|350h F Sport"),
        _m("RX", "luxury-suv", 70, 110, 2017, 2024, 1, "h:450hL Luxury|500h F Sport+"))),
    ("Jaguar", (
        _m("XF", "luxury-sedan", 12, 60, 2009, 2024, 1, "d:2.2 Luxury|R-Dynamic S;p:2.0 Portfolio|"
           "R-Dynamic S"),
        _m("XE", "luxury-sedan", 15, 45, 2016, 2024, 1, "d:Prestige|Portfolio|SE;p:Prestige|S"),
        _m("F-Pace", "luxury-suv", 35, 75, 2016, 2024, 1, "d:Prestige|R-Sport|R-Dynamic S;"
           "p:R-Dynamic S"))),
    ("Mini", (
        _m("Cooper", "luxury-hatchback", 15, 40, 2012, 2024, 1,
           "p:3 Door|5 Door|S|John Cooper Works|Convertible"),
        _m("Countryman", "luxury-suv", 20, 45, 2015, 2024, 1, "p:Cooper S|Cooper S JCW Inspired;"
           "d:Cooper D"))),
)

# (name, state, RTO code, relative size, localities). Sizes are deliberately uneven.
CITIES: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    ("Mumbai", "Maharashtra", "MH", 16, ("Andheri", "Bandra", "Powai", "Borivali", "Goregaon",
                                         "Malad", "Chembur", "Ghatkopar")),
    ("Delhi", "Delhi", "DL", 15, ("Dwarka", "Rohini", "Saket", "Lajpat Nagar", "Janakpuri",
                                  "Karol Bagh", "Pitampura", "Vasant Kunj")),
    ("Bengaluru", "Karnataka", "KA", 14, ("Whitefield", "Koramangala", "Indiranagar",
                                          "HSR Layout", "Jayanagar", "Electronic City", "Hebbal",
                                          "Marathahalli")),
    ("Pune", "Maharashtra", "MH", 8, ("Hinjewadi", "Kothrud", "Baner", "Wakad", "Hadapsar",
                                      "Viman Nagar", "Aundh")),
    ("Hyderabad", "Telangana", "TS", 8, ("Gachibowli", "Kondapur", "Banjara Hills", "Madhapur",
                                         "Kukatpally", "Secunderabad", "Begumpet")),
    ("Chennai", "Tamil Nadu", "TN", 7, ("Anna Nagar", "T Nagar", "Velachery", "Adyar", "OMR",
                                        "Porur", "Tambaram")),
    ("Kolkata", "West Bengal", "WB", 5, ("Salt Lake", "New Town", "Ballygunge", "Behala",
                                         "Park Street", "Dum Dum")),
    ("Ahmedabad", "Gujarat", "GJ", 5, ("Satellite", "Bodakdev", "Navrangpura", "Maninagar",
                                       "Prahlad Nagar", "Vastrapur")),
    ("Gurgaon", "Haryana", "HR", 5, ("DLF Phase 3", "Sohna Road", "Golf Course Road",
                                     "Sector 56", "MG Road")),
    ("Noida", "Uttar Pradesh", "UP", 4, ("Sector 18", "Sector 62", "Sector 137", "Sector 50",
                                         "Noida Extension")),
    ("Jaipur", "Rajasthan", "RJ", 4, ("Malviya Nagar", "Vaishali Nagar", "Mansarovar",
                                      "C-Scheme", "Jagatpura")),
    ("Lucknow", "Uttar Pradesh", "UP", 3, ("Gomti Nagar", "Hazratganj", "Aliganj",
                                           "Indira Nagar", "Alambagh")),
    ("Chandigarh", "Chandigarh", "CH", 3, ("Sector 17", "Sector 22", "Sector 35", "Manimajra")),
    ("Kochi", "Kerala", "KL", 3, ("Kakkanad", "Edappally", "Vyttila", "Kaloor", "Fort Kochi")),
    ("Indore", "Madhya Pradesh", "MP", 3, ("Vijay Nagar", "Palasia", "Rajendra Nagar",
                                           "Bhawarkua")),
    ("Surat", "Gujarat", "GJ", 3, ("Adajan", "Vesu", "Athwalines", "Varachha", "Piplod")),
    ("Nagpur", "Maharashtra", "MH", 2, ("Dharampeth", "Sitabuldi", "Manish Nagar",
                                        "Civil Lines")),
    ("Coimbatore", "Tamil Nadu", "TN", 2, ("RS Puram", "Gandhipuram", "Peelamedu",
                                           "Saibaba Colony")),
)

# (name, hex, relative popularity): white dominates Indian used-car stock.
COLORS: tuple[tuple[str, str, int], ...] = (
    ("Pearl White", "#F4F4F2", 24), ("Silver", "#C0C0C0", 14), ("Grey", "#808080", 12),
    ("Black", "#111111", 9), ("Red", "#B3141C", 8), ("Blue", "#1F4E9C", 8),
    ("Brown", "#6B4226", 3), ("Beige", "#D8C8A8", 3), ("Orange", "#E3702A", 3),
    ("Maroon", "#6D1A26", 3), ("Green", "#2F5D3A", 2), ("Yellow", "#F2C230", 1),
)

# (name, category, tier): tier 0 is on nearly every car, tier 2 only on premium ones.
FEATURES: tuple[tuple[str, str, int], ...] = (
    ("ABS with EBD", "safety", 0), ("Dual Airbags", "safety", 0), ("6 Airbags", "safety", 1),
    ("Rear Parking Sensors", "safety", 0), ("Rear Camera", "safety", 1),
    ("360 Camera", "safety", 2), ("ISOFIX Mounts", "safety", 1),
    ("Electronic Stability Control", "safety", 1), ("Hill Hold Assist", "safety", 1),
    ("Tyre Pressure Monitor", "safety", 1), ("ADAS", "safety", 2),
    ("Power Windows", "comfort", 0), ("Automatic Climate Control", "comfort", 1),
    ("Rear AC Vents", "comfort", 1), ("Cruise Control", "comfort", 1),
    ("Ventilated Seats", "comfort", 2), ("Powered Driver Seat", "comfort", 2),
    ("Leather Upholstery", "comfort", 2), ("Wireless Charger", "comfort", 2),
    ("Tilt Steering", "comfort", 0), ("Air Purifier", "comfort", 2),
    ("Bluetooth", "infotainment", 0), ("Touchscreen Infotainment", "infotainment", 1),
    ("Android Auto", "infotainment", 1), ("Apple CarPlay", "infotainment", 1),
    ("Premium Sound System", "infotainment", 2), ("Connected Car Tech", "infotainment", 2),
    ("Steering Mounted Controls", "infotainment", 0), ("USB Charging", "infotainment", 0),
    ("Digital Instrument Cluster", "infotainment", 2), ("Alloy Wheels", "exterior", 1),
    ("Sunroof", "exterior", 1), ("Panoramic Sunroof", "exterior", 2),
    ("LED Headlamps", "exterior", 1), ("LED DRLs", "exterior", 1), ("Fog Lamps", "exterior", 0),
    ("Roof Rails", "exterior", 0), ("Keyless Entry", "convenience", 0),
    ("Push Button Start", "convenience", 1), ("Auto Headlamps", "convenience", 1),
    ("Rain Sensing Wipers", "convenience", 2), ("Electric ORVMs", "convenience", 0),
    ("Central Locking", "convenience", 0),
)

IMAGE_TAGS = ("front", "front-right", "right", "rear-right", "back", "left", "front-left",
              "dashboard", "interior", "rear-seats", "boot", "engine", "odometer", "wheel")

INSPECTION_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Exterior", ("Front bumper", "Rear bumper", "Bonnet", "Roof", "Doors", "Paint finish")),
    ("Engine & transmission", ("Engine noise", "Oil leakage", "Clutch", "Gearbox", "Coolant",
                               "Battery")),
    ("Interior", ("Seats", "Dashboard", "AC cooling", "Infotainment", "Power windows")),
    ("Tyres & brakes", ("Front tyres", "Rear tyres", "Spare tyre", "Brake pads", "Suspension")),
    ("Electricals", ("Headlamps", "Tail lamps", "Horn", "Wipers", "Central locking")),
    ("Documents", ("RC", "Insurance", "Service history", "PUC certificate")),
)
EV_SECTION = ("Battery & motor", ("Battery health", "Charging port", "Motor noise",
                                  "Regenerative braking", "12V battery"))
"""Replaces the engine section for electric cars."""
MINOR_NOTES = ("light scratches", "minor dent", "wear visible", "needs servicing soon",
               "cosmetic fading")
MAJOR_NOTES = ("replacement advised", "repainted panel", "leak observed", "not working")
DOCUMENT_NOTES = (("copy pending", "name transfer pending"), ("missing", "expired"))
"""(minor, major) notes for the Documents section, where wear-and-tear notes make no sense."""

FIRST_NAMES = (
    "Aarav", "Vivaan", "Aditya", "Arjun", "Rohan", "Rahul", "Amit", "Vikram", "Karan", "Sanjay",
    "Rajesh", "Suresh", "Manoj", "Nikhil", "Pranav", "Siddharth", "Harsh", "Kunal", "Deepak",
    "Imran", "Farhan", "Joseph", "Gurpreet", "Harpreet", "Anil", "Priya", "Ananya", "Sneha",
    "Pooja", "Neha", "Kavya", "Divya", "Aishwarya", "Meera", "Isha", "Riya", "Sunita", "Lakshmi",
    "Fatima", "Simran", "Shreya", "Anjali",
)
LAST_NAMES = (
    "Sharma", "Verma", "Gupta", "Singh", "Kumar", "Patel", "Shah", "Mehta", "Reddy", "Rao",
    "Nair", "Menon", "Iyer", "Iyengar", "Pillai", "Das", "Banerjee", "Chatterjee", "Mukherjee",
    "Joshi", "Kulkarni", "Deshpande", "Patil", "Jadhav", "Khan", "Sheikh", "Fernandes",
    "D'Souza", "Gill", "Sandhu", "Agarwal", "Jain", "Malhotra", "Kapoor", "Chopra", "Bose",
)
DEALER_PREFIXES = ("Shree Ganesh", "Sai", "Om", "Balaji", "Jai Hind", "Royal", "Star", "Galaxy",
                   "Sunrise", "Metro", "Prime", "Highway", "Green Park", "Sri Krishna", "Lucky")
DEALER_SUFFIXES = ("Motors", "Cars", "Auto World", "Car Bazaar", "Automobiles", "Wheels",
                   "Car Point", "Auto Hub")
