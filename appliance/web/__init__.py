"""The appliance's HTTP side: health now; dashboard, API and softphone later."""
