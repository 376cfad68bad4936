"""Records of the demo CRM. Field names match the widget fields (shared/demo/README.md)."""

from django.db import models


class Contact(models.Model):
    ROLES = [(r, r) for r in ("agent", "buyer", "seller", "lender", "inspector")]

    name = models.CharField(max_length=80)
    role = models.CharField(max_length=16, choices=ROLES)
    phone = models.CharField(max_length=20, blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class Listing(models.Model):
    STATUSES = [(s, s) for s in ("active", "pending", "sold")]

    mls_id = models.CharField(max_length=16, unique=True)
    address = models.CharField(max_length=120)
    city = models.CharField(max_length=60, db_index=True)
    price = models.PositiveIntegerField()
    beds = models.PositiveSmallIntegerField()
    baths = models.FloatField()
    sqft = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=STATUSES, default="active")
    photo_url = models.URLField(max_length=300, blank=True)
    agent = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL)
    seller = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="selling"
    )
    buyers = models.ManyToManyField(Contact, blank=True, related_name="interested_in")

    class Meta:
        ordering = ["mls_id"]
        # The CRM actions are permissions (crm.<action>; demo/services.py ACTIONS).
        permissions = [("update_listing_status", "Can change a listing's status from the chat")]

    def __str__(self) -> str:
        return f"{self.mls_id} {self.address}, {self.city}"


class Sale(models.Model):
    address = models.CharField(max_length=120)
    city = models.CharField(max_length=60, db_index=True)
    sold_price = models.PositiveIntegerField()
    sold_date = models.DateField()
    sqft = models.PositiveIntegerField()

    class Meta:
        ordering = ["-sold_date", "-id"]  # the id breaks ties: same order on every database

    def __str__(self) -> str:
        return f"{self.address}, {self.city}: {self.sold_price} on {self.sold_date}"


class ShowingSlot(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="slots")
    start = models.DateTimeField()
    minutes = models.PositiveSmallIntegerField()
    booked_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["start"]
        permissions = [("book_showing", "Can book a showing from the chat")]

    def __str__(self) -> str:
        return f"{self.listing_id} at {self.start:%Y-%m-%d %H:%M}"


class Task(models.Model):
    title = models.CharField(max_length=200)
    due = models.DateField(null=True, blank=True)
    listing = models.ForeignKey(Listing, null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(
        "auth.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("create_task", "Can create a task from the chat")]

    def __str__(self) -> str:
        return self.title


class QueuedEmail(models.Model):
    """Email the demo would send: queued, never sent (the demo has no mail server)."""

    to = models.CharField(max_length=400)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_by = models.ForeignKey(
        "auth.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("send_email", "Can queue an email from the chat")]

    def __str__(self) -> str:
        return f"to {self.to}: {self.subject}"
