#!/usr/bin/env python3
"""Writes the small MaxMind-format test databases decnet's tests read
(crates/decnet-intel/testdata/geo-test-{city,asn}.mmdb): loopback test
ranges placed in countries and autonomous systems, laid out like GeoLite2
City and ASN records (IPv6 tree, IPv4 under ::/96), so the real reader
path is exercised without shipping MaxMind's or DB-IP's data.

    pip install mmdb-writer netaddr
    python3 scripts/geo/make_test_mmdb.py [OUT_DIR]

Addresses outside these ranges are not in the files: loopback and private
ones then show as "private", public ones as unknown.
"""
import os
import sys

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# (network, ISO code, country, city, latitude, longitude, ASN, AS organisation)
PLACES = [
    ("127.0.77.0/24", "DE", "Germany", "Berlin", 52.52, 13.40, 64501, "Example Transit DE"),
    ("127.0.78.0/24", "BR", "Brazil", "São Paulo", -23.55, -46.63, 64502, "Example Telecom BR"),
    ("127.0.79.0/24", "JP", "Japan", "Tokyo", 35.68, 139.69, 64503, "Example Hosting JP"),
    # The dashboard e2e's telnet and SSH attackers.
    ("127.0.0.91/32", "NL", "Netherlands", "Amsterdam", 52.37, 4.90, 64504, "Example Cloud NL"),
    ("127.0.0.92/32", "US", "United States", "Ashburn", 39.04, -77.49, 64505, "Example Datacenter US"),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "crates", "decnet-intel", "testdata")
    os.makedirs(out, exist_ok=True)
    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="decnet-test-City",
                      languages=["en"], description={"en": "decnet test ranges (City layout)"})
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="decnet-test-ASN",
                     languages=["en"], description={"en": "decnet test ranges (ASN layout)"},
                     int_type="uint32")
    for net, iso, country, town, lat, lon, number, org in PLACES:
        place = {"iso_code": iso, "names": {"en": country}}
        city.insert_network(IPSet([net]), {
            "country": place,
            "registered_country": place,
            "city": {"names": {"en": town}},
            "location": {"latitude": lat, "longitude": lon},
        })
        asn.insert_network(IPSet([net]), {
            "autonomous_system_number": number,
            "autonomous_system_organization": org,
        })
    city.to_db_file(os.path.join(out, "geo-test-city.mmdb"))
    asn.to_db_file(os.path.join(out, "geo-test-asn.mmdb"))
    print("wrote", os.path.join(out, "geo-test-city.mmdb"), "and geo-test-asn.mmdb")


if __name__ == "__main__":
    main()
