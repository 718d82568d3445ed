"""The offline model's table templates: topics it knows, their columns and sample rows."""

from __future__ import annotations

# fmt: off
SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "from"}
CITY_AREAS = {
    "chicago": ["River North", "West Loop", "Lincoln Park", "Wicker Park", "Logan Square", "Little Italy",
                "West Town"],
    "new york": ["SoHo", "West Village", "Little Italy", "Midtown", "Williamsburg", "Upper East Side"],
    "san francisco": ["North Beach", "Mission", "SoMa", "Hayes Valley", "Marina", "Castro"],
    "london": ["Soho", "Shoreditch", "Covent Garden", "Marylebone", "Notting Hill", "Clerkenwell"],
    "paris": ["Le Marais", "Saint-Germain", "Montmartre", "Bastille", "Pigalle", "Batignolles"],
    "boston": ["North End", "Back Bay", "South End", "Beacon Hill", "Seaport", "Cambridge"],
}
CUISINES = ["Italian", "Mexican", "Japanese", "Chinese", "Indian", "French", "Thai", "American", "Greek",
            "Korean", "Vietnamese", "Spanish", "Lebanese", "Ethiopian"]

# A template: the words that pick it, columns as "Name[:type][!][=option,option][@tab]" (! = required;
# options make a select), and sample rows as tuples in column order.
TEMPLATES: list[tuple[str, list[str], list[tuple]]] = [
    (r"book|novel|reading",
     ["Title!", "Author", "Genre=Fiction,Non-fiction,Science Fiction,Fantasy,Mystery,Biography,History@tab",
      "Year Published:number", "Rating:number", "Status=To read,Reading,Finished", "Notes:long_text"],
     [("Dune", "Frank Herbert", "Science Fiction", 1965, 4.6, "Finished"),
      ("Pride and Prejudice", "Jane Austen", "Fiction", 1813, 4.5, "Reading"),
      ("Sapiens", "Yuval Noah Harari", "Non-fiction", 2011, 4.3, "To read")]),
    (r"movie|film|cinema|watchlist",
     ["Title!", "Director", "Genre=Drama,Comedy,Action,Science Fiction,Animation,Thriller,Documentary@tab",
      "Year:number", "Rating:number", "Watched:boolean", "Notes:long_text"],
     [("The Godfather", "Francis Ford Coppola", "Drama", 1972, 4.8, True),
      ("Spirited Away", "Hayao Miyazaki", "Animation", 2001, 4.7, True),
      ("Inception", "Christopher Nolan", "Science Fiction", 2010, 4.5, False)]),
    (r"bug|issue|defect|ticket",
     ["Title!", "Status=Open,In progress,Resolved,Closed@tab", "Priority=P0,P1,P2,P3", "Assignee",
      "Reported:date", "Description:long_text"],
     [("Login times out after 30 seconds", "Open", "P1", "Alex", "2026-01-12"),
      ("Export button misaligned on mobile", "In progress", "P2", "Sam", "2026-01-14"),
      ("Typo on the pricing page", "Resolved", "P3", "Jo", "2026-01-09")]),
    (r"task|to-?do|chore|project|assignment",
     ["Task!", "Status=To do,In progress,Done@tab", "Priority=High,Medium,Low", "Due Date:date", "Owner",
      "Notes:long_text"],
     [("Draft the project plan", "In progress", "High", "2026-02-02", "Alex"),
      ("Book the kickoff meeting", "To do", "Medium", "2026-02-04", "Sam"),
      ("Collect requirements", "Done", "High", "2026-01-28", "Jo")]),
    (r"contact|people|person|lead|customer|client|friend|network|crm",
     ["Name!", "Email:email", "Phone", "Company", "Relationship=Client,Lead,Colleague,Friend,Family@tab",
      "Last Contacted:date", "Notes:long_text"],
     [("Ada Lovelace", "ada@example.com", "+1 555 0100", "Analytical Ltd", "Client", "2026-01-20"),
      ("Grace Hopper", "grace@example.com", "+1 555 0101", "Compilers Inc", "Lead", "2026-01-18"),
      ("Alan Turing", "alan@example.com", "+1 555 0102", "Enigma Co", "Colleague", "2026-01-05")]),
    (r"product|inventory|stock|catalog|item|merch",
     ["Product!", "SKU", "Category=Electronics,Home,Clothing,Books,Toys@tab", "Price:number",
      "Quantity:number", "In Stock:boolean", "Product Page:url"],
     [("Wireless Mouse", "EL-1001", "Electronics", 24.99, 120, True, "https://example.com/wireless-mouse"),
      ("Ceramic Mug", "HM-2040", "Home", 12.5, 0, False, "https://example.com/ceramic-mug"),
      ("Rain Jacket", "CL-3307", "Clothing", 89, 35, True, "https://example.com/rain-jacket")]),
    (r"employee|staff|team|colleague|hire|hiring|candidate",
     ["Name!", "Email:email", "Department=Engineering,Sales,Marketing,Operations,Finance@tab", "Role",
      "Start Date:date", "Remote:boolean"],
     [("Maya Chen", "maya.chen@example.com", "Engineering", "Backend Engineer", "2024-03-04", True),
      ("Luis Romero", "luis.romero@example.com", "Sales", "Account Executive", "2023-09-18", False),
      ("Priya Nair", "priya.nair@example.com", "Marketing", "Content Lead", "2025-01-13", True)]),
]
RESTAURANTS = r"restaurant|diner|cafe|café|bistro|eater|pizzeria|food|dining|bars?\b|brunch"
CHICAGO_ITALIAN = [
    ("RPM Italian", "River North", "Italian", 4.5, "$$$", "https://www.rpmrestaurants.com"),
    ("Monteverde", "West Loop", "Italian", 4.7, "$$$", "https://www.monteverdechicago.com"),
    ("Piccolo Sogno", "West Town", "Italian", 4.6, "$$$", "https://www.piccolosognorestaurant.com"),
]
GENERIC = ["Name!", "Category=General,Work,Personal@tab", "Status=Not started,In progress,Done", "Date:date",
           "Notes:long_text"]
# fmt: on

