/* placeholder: the page's helper fills this in */
