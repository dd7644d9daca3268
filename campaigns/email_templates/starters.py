"""The three starters every club has (seeded by migration 0006, so the club template schema
holds them and a new club's copy has them too): a newsletter, a competition invite and a
renewal reminder. Their header and footer take the club's logo, colours and address from its
branding; the example.com addresses are there to be replaced with the club's own pages."""

from __future__ import annotations

from typing import Any

STARTERS: list[dict[str, Any]] = [
    {
        "key": "newsletter",
        "name": "Newsletter",
        "subject": "News from {{ clubName }}",
        "preheader": "What's on at the club this month",
        "blocks": [
            {"type": "header", "tagline": "Club news"},
            {
                "type": "text",
                "heading": "Hello {{ firstName }},",
                "text": "Here is what has been happening at {{ clubName }} this month, and what "
                "is coming up on the course and in the clubhouse.",
            },
            {
                "type": "text",
                "heading": "On the course",
                "text": "The greens have recovered well after hollow-tining and the winter "
                "tees are in play from Monday.\n\nPlease repair your pitch marks and rake the "
                "bunkers: the greenkeepers thank you.",
            },
            {"type": "button", "label": "Book a tee time", "url": "https://www.example.com/book"},
            {"type": "footer", "note": "See you on the course."},
        ],
    },
    {
        "key": "competition_invite",
        "name": "Competition invite",
        "subject": "Entries open: Winter Stableford",
        "preheader": "Book your place before the sheet fills",
        "blocks": [
            {"type": "header", "tagline": "Competitions"},
            {
                "type": "text",
                "heading": "Dear {{ firstName }},",
                "text": "Entries are now open for our next competition. Places go quickly, so "
                "enter early to get the tee time you want.",
            },
            {
                "type": "competition",
                "name": "Winter Stableford",
                "date": "Saturday, tee times from 08:30",
                "details": "18 holes, Stableford, full handicap allowance. Members and their "
                "guests welcome.",
                "url": "https://www.example.com/competitions",
                "buttonLabel": "Enter now",
            },
            {
                "type": "text",
                "text": "Your current handicap index is {{ handicap }}. Good luck!",
            },
            {"type": "footer"},
        ],
    },
    {
        "key": "renewal_reminder",
        "name": "Renewal reminder",
        "subject": "Your membership renewal, {{ firstName }}",
        "preheader": "Renew in a minute online",
        "blocks": [
            {"type": "header", "tagline": "Membership"},
            {
                "type": "text",
                "heading": "Time to renew, {{ firstName }}",
                "text": "Your {{ membershipTierLabel }} membership at {{ clubName }} is due "
                "for renewal on {{ renewalDate }}.\n\nRenew now to keep your playing rights, "
                "competition entries and handicap record without a break.",
            },
            {
                "type": "button",
                "label": "Renew my membership",
                "url": "https://www.example.com/renew",
            },
            {
                "type": "text",
                "text": "Questions about your subscription? Reply to this email or call in to "
                "the office: we are happy to help.",
            },
            {"type": "footer"},
        ],
    },
]
